"""Monitoring's tool checks against real executables and a real PATH: a pg_dump older than the
server, one whose version cannot be read, redis-cli missing, and openssl missing while the
manual's encrypted sets are on disk. The "tools" are tiny scripts in a temporary directory:
real programs that print what an old or broken install prints."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from console.cli import main
from console.monitor import collect
from tests.retention_fixtures import make_set
from tests.servers import require_binary


def tool(directory: Path, name: str, version_line: str) -> Path:
    """An executable ``name`` in ``directory`` that answers ``--version`` like the real one."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!/bin/sh\necho '{version_line}'\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def by_id(report):  # noqa: ANN001, ANN201
    return {finding.id: finding for finding in report.findings}


def stamp_hours_ago(hours: float) -> str:
    from datetime import datetime, timedelta

    from console.layout import new_stamp

    return new_stamp(datetime.now() - timedelta(hours=hours))


# --- pg_dump --------------------------------------------------------------------------------------


def test_pg_dump_older_than_the_server_is_critical(pg_cluster, make_settings, tmp_path) -> None:
    old = tool(tmp_path / "pg12" / "bin", "pg_dump", "pg_dump (PostgreSQL) 12.0")
    settings = make_settings(pg_cluster.overrides(), **{"alerts.scheduled_kinds": ["postgres"],
                                                        "postgres.bin_dir": str(old.parent)})

    report = collect(settings, certificates=False)

    finding = by_id(report)["tools:pg_dump"]
    assert finding.severity == "critical" and finding.category == "tools"
    assert finding.message == "pg_dump 12 is older than the server (15)"
    assert finding.evidence.startswith(f"{old}: pg_dump (PostgreSQL) 12.0; server 15")
    assert finding in report.alerting


def test_pg_dump_newer_than_the_server_is_fine(pg_cluster, make_settings, tmp_path) -> None:
    newer = tool(tmp_path / "pg17" / "bin", "pg_dump", "pg_dump (PostgreSQL) 17.2 (Debian 17.2-1)")
    settings = make_settings(pg_cluster.overrides(), **{"alerts.scheduled_kinds": ["postgres"],
                                                        "postgres.bin_dir": str(newer.parent)})

    finding = by_id(collect(settings, certificates=False))["tools:pg_dump"]

    assert finding.severity == "ok" and finding.message == "pg_dump 17"
    assert finding.evidence.startswith(f"{newer}: pg_dump (PostgreSQL) 17.2")


def test_pg_dump_whose_version_cannot_be_read_is_critical(pg_cluster, make_settings, tmp_path) -> None:
    broken = tool(tmp_path / "broken" / "bin", "pg_dump", "segmentation fault")
    settings = make_settings(pg_cluster.overrides(), **{"alerts.scheduled_kinds": ["postgres"],
                                                        "postgres.bin_dir": str(broken.parent)})

    finding = by_id(collect(settings, certificates=False))["tools:pg_dump"]

    assert finding.severity == "critical"
    assert finding.message == f"cannot read the version of {broken} ('segmentation fault')"


def test_monitor_cli_exits_1_only_because_pg_dump_is_too_old(pg_cluster, backup_dir, tmp_path, capsys) -> None:
    make_set(backup_dir, "postgres", stamp_hours_ago(1), name="postgres", status="passed")

    def run(bin_dir: Path) -> tuple[int, str]:
        config = tmp_path / "bc.yaml"
        config.write_text(f"backup_dir: {backup_dir}\n"
                          f"postgres:\n  host: {pg_cluster.host}\n  port: {pg_cluster.port}\n  bin_dir: {bin_dir}\n"
                          "alerts:\n  scheduled_kinds: [postgres]\n")
        code = main(["--config", str(config), "monitor", "--no-alerts"])
        return code, capsys.readouterr().out

    code, out = run(tool(tmp_path / "pg16" / "bin", "pg_dump", "pg_dump (PostgreSQL) 16.4").parent)
    assert code == 0, out
    code, out = run(tool(tmp_path / "pg12" / "bin", "pg_dump", "pg_dump (PostgreSQL) 12.0").parent)
    assert code == 1
    line = next(line for line in out.splitlines() if "pg_dump 12 is older than the server (15)" in line)
    assert "CRIT" in line


# --- redis-cli and openssl on PATH ------------------------------------------------------------------


def test_redis_cli_missing_from_path_is_a_warning(make_settings, tmp_path, monkeypatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    settings = make_settings(**{"alerts.scheduled_kinds": ["redis"]})

    finding = by_id(collect(settings, certificates=False))["tools:redis-cli"]

    assert finding.severity == "warning"
    assert finding.message == "redis-cli not installed (the manual's AOF fallback `redis-cli --pipe` needs it)"
    assert finding.evidence == "not on PATH"


def test_redis_cli_on_path_is_found(make_settings, tmp_path, monkeypatch) -> None:
    cli = tool(tmp_path / "bin", "redis-cli", "redis-cli 7.0.15")
    monkeypatch.setenv("PATH", str(cli.parent))
    settings = make_settings(**{"alerts.scheduled_kinds": ["redis"]})

    finding = by_id(collect(settings, certificates=False))["tools:redis-cli"]

    assert finding.severity == "ok" and finding.evidence == str(cli)


@pytest.fixture
def legacy_encrypted_sets(backup_dir, tmp_path):  # noqa: ANN001, ANN201
    """The manual's config and certificate sets, encrypted with the real openssl (before PATH changes)."""
    from tests.verify_fixtures import legacy_config_and_certs

    source = tmp_path / "app"
    source.mkdir()
    (source / "docker-compose.yml").write_text("services: {}\n")
    (source / ".env").write_text("DB_PASSWORD=s3cret\n")
    cert_dir = tmp_path / "tls"
    cert_dir.mkdir()
    (cert_dir / "site.crt").write_text("not checked here\n")
    return legacy_config_and_certs(backup_dir, source, cert_dir, "legacy-key-4Jp")


def test_openssl_missing_with_the_manuals_encrypted_sets_is_a_warning(legacy_encrypted_sets, make_settings, tmp_path,
                                                                     monkeypatch) -> None:
    config_set, certs_set = legacy_encrypted_sets
    settings = make_settings(**{"alerts.scheduled_kinds": ["config"]})
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))

    finding = by_id(collect(settings, certificates=False))["tools:openssl"]

    assert finding.severity == "warning"
    assert finding.message == "openssl not installed: the manual's steps for its encrypted files need it"
    assert finding.evidence.startswith("2 legacy encrypted set(s), e.g. ")
    assert finding.evidence.split("e.g. ", 1)[1].split(";")[0] in (config_set.set_id, certs_set.set_id)
    assert finding.evidence.endswith("openssl: not on PATH")


def test_openssl_on_path_with_the_manuals_encrypted_sets_is_ok(legacy_encrypted_sets, make_settings) -> None:
    settings = make_settings(**{"alerts.scheduled_kinds": ["config"]})

    finding = by_id(collect(settings, certificates=False))["tools:openssl"]

    assert finding.severity == "ok" and finding.message == "openssl available"
    assert finding.evidence.endswith(f"openssl: {require_binary('openssl')}")


def test_no_openssl_finding_without_the_manuals_encrypted_sets(backup_dir, make_settings, tmp_path,
                                                              monkeypatch) -> None:
    make_set(backup_dir, "config", stamp_hours_ago(1), status="passed")  # ours: plain tarball, our metadata
    monkeypatch.setenv("PATH", str(tmp_path))
    settings = make_settings(**{"alerts.scheduled_kinds": ["config"]})

    assert "tools:openssl" not in by_id(collect(settings, certificates=False))
