"""`backup-console status` and `config show`: JSON schema, exit codes 0/1/2, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.servers import free_port

BIN = [sys.executable, "-m", "console.cli"]


def run(args, env_extra=None, cwd=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([*BIN, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=60)


def local_env(pg_cluster, redis_server, backup_dir):
    return {"POSTGRES_PORT": str(pg_cluster.port), "REDIS_PORT": str(redis_server.port), "BACKUP_DIR": str(backup_dir)}


def test_status_json_schema_and_exit_0_when_all_up(pg_cluster, redis_server, rabbitmq_api, backup_dir):
    (backup_dir / "redis").mkdir(parents=True)
    (backup_dir / "redis" / "snapshot_20241101_020000.rdb.gz").write_bytes(b"x")
    proc = run(["status", "--json"], local_env(pg_cluster, redis_server, backup_dir))
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert set(document) >= {"generated_at", "services", "last_backups"}
    names = [service["name"] for service in document["services"]]
    assert names[:5] == ["postgres", "redis", "rabbitmq", "s3", "storage"]
    for service in document["services"]:
        assert set(service) == {"name", "instance", "kind", "state", "detail", "latency_ms", "metrics"}
        assert service["state"] in ("up", "unconfigured")
    (backup,) = document["last_backups"]
    assert backup["kind"] == "redis" and backup["path"].endswith("snapshot_20241101_020000.rdb.gz")
    assert backup["age_seconds"] > 0
    assert proc.stderr == ""


def test_status_exit_1_when_a_service_is_down(pg_cluster, redis_server, backup_dir):
    env = {**local_env(pg_cluster, redis_server, backup_dir), "REDIS_PORT": str(free_port())}
    proc = run(["status", "--json", "--service", "redis"], env)
    assert proc.returncode == 1
    (redis,) = json.loads(proc.stdout)["services"]
    assert redis["state"] == "down" and "connection refused" in redis["detail"]


def test_status_human_table(pg_cluster, redis_server, backup_dir):
    proc = run(["status", "--service", "postgres"], local_env(pg_cluster, redis_server, backup_dir))
    assert proc.returncode == 0
    assert proc.stdout.splitlines()[0].split() == ["SERVICE", "STATE", "LATENCY", "DETAIL"]
    assert "postgres  UP" in proc.stdout


def test_config_error_is_one_line_exit_2(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("postgres:\n  prot: 1\n")
    proc = run(["--config", str(config), "status"])
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"backup-console: error: {config}:2: unknown key 'prot' in section 'postgres'. Did you mean 'port'?"
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_config_error_in_json_mode_is_an_exit_error_object(tmp_path):
    proc = run(["status", "--json"], {"REDIS_PORT": "99999"})
    assert proc.returncode == 2
    error = json.loads(proc.stderr)
    assert error == {"message_type": "exit_error", "code": 2,
                     "message": "environment variable REDIS_PORT: bad port 99999 for 'redis.port' (must be 1-65535)"}


def test_usage_error_exit_2():
    proc = run(["status", "--service", "nosuch"])
    assert proc.returncode == 2 and "unknown service 'nosuch'" in proc.stderr


def test_config_show_json_sources_and_masking(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("redis:\n  password: file-secret\n")
    proc = run(["config", "show", "--json", "--config", str(config)], {"POSTGRES_PASSWORD": "env-secret", "POSTGRES_PORT": "5433"})
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    settings = document["settings"]
    assert settings["postgres.port"] == {"value": 5433, "source": "env POSTGRES_PORT"}
    assert settings["redis.password"] == {"value": "********", "source": f"{config}:2"}
    assert settings["read_only"]["source"] == "default"
    assert "env-secret" not in proc.stdout and "file-secret" not in proc.stdout


def test_read_only_flag_reaches_settings():
    proc = run(["--read-only", "config", "show", "--json"])
    assert json.loads(proc.stdout)["settings"]["read_only"] == {"value": True, "source": "flag"}


def test_version_and_help():
    from console import __version__

    assert run(["--version"]).stdout.strip() == f"backup-console {__version__}"
    help_text = run(["--help"]).stdout
    assert "status" in help_text and "exit codes:" in help_text


def test_example_command_matches_shipped_file():
    repo = Path(__file__).resolve().parents[2]
    assert run(["config", "example"]).stdout == (repo / "config" / "backup-console.example.yaml").read_text()


def test_every_command_help_names_its_exit_codes():
    import argparse

    from console.cli import build_parser

    def leaves(parser: argparse.ArgumentParser, path: tuple[str, ...]):
        groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not groups:
            yield path, parser
        for group in groups:
            for name, child in group.choices.items():
                yield from leaves(child, (*path, name))

    found = list(leaves(build_parser(), ()))
    assert len(found) > 30
    silent = [" ".join(path) for path, parser in found
              if "exit" not in parser.format_help().lower().replace("show this help message and exit", "")]
    assert silent == []


def test_status_json_names_the_custom_dump_even_when_the_sql_file_sorts_first(backup_dir):
    # A legacy run stamps each step separately: here the plain .sql.gz was written before the
    # custom dump, so it comes first in the set's files; the path must still be the .dump.
    postgres = backup_dir / "postgres"
    postgres.mkdir(parents=True)
    (postgres / "backup_shop_20241101_020000.sql.gz").write_bytes(b"x")
    (postgres / "backup_shop_20241101_020004.dump").write_bytes(b"PGDMP")
    proc = run(["status", "--json", "--service", "storage"], {"BACKUP_DIR": str(backup_dir)})
    assert proc.returncode == 0, proc.stderr
    (backup,) = json.loads(proc.stdout)["last_backups"]
    assert backup["set_id"] == "postgres/shop/20241101_020000"
    assert backup["path"] == str(postgres / "backup_shop_20241101_020004.dump")


def test_status_names_the_configured_targets_never_backed_up(backup_dir):
    """The dashboard gives a configured database with no set its own 'never' line; status says the same."""
    postgres = backup_dir / "postgres"
    postgres.mkdir(parents=True)
    (postgres / "backup_shop_20241101_020000.dump").write_bytes(b"PGDMP")
    env = {"BACKUP_DIR": str(backup_dir), "POSTGRES_PORT": str(free_port()), "REDIS_PORT": str(free_port())}
    config = backup_dir.parent / "status-targets.yaml"
    config.write_text("postgres:\n  databases: [shop, billing]\n")
    proc = run(["--config", str(config), "status", "--json", "--service", "storage"], env)
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    never = {entry["label"] for entry in document["targets_never_backed_up"]}
    assert "postgres/billing" in never and "postgres/shop" not in never and {"redis", "config", "certs"} <= never
    proc = run(["--config", str(config), "status"], env)
    lines = proc.stdout.splitlines()
    assert "postgres/billing: never backed up" in lines and "postgres/shop: never backed up" not in lines, proc.stdout


def test_the_newest_sets_fit_80_columns_with_their_ids_whole_and_a_pipe_gets_the_paths(make_settings, backup_dir,
                                                                                     monkeypatch):
    """At 80 columns the path (it ran to 74 characters and wrapped every 12) gives way to the set id,
    which `verify --set` and `restore` take; a pipe and a wide terminal still get each path."""
    import io

    from console.cli.output import Printer
    from console.cli.status import StatusOptions, run_status

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    postgres = backup_dir / "postgres"
    postgres.mkdir(parents=True)
    (postgres / "backup_application_database_20241101_020000.dump").write_bytes(b"PGDMP")
    (backup_dir / "redis").mkdir()
    (backup_dir / "redis" / "snapshot_20241101_020000.rdb.gz").write_bytes(b"x")
    settings = make_settings({"postgres.databases": ["application_database"]})
    outputs = {}
    for label, columns, out in (("narrow", "80", Terminal()), ("wide", "400", Terminal()), ("pipe", "80", io.StringIO())):
        monkeypatch.setenv("COLUMNS", columns)
        run_status(StatusOptions(service=None, json=False), settings, Printer(out=out))
        outputs[label] = out.getvalue().split("\n\n", 1)[1]
    narrow = outputs["narrow"].splitlines()
    assert max(len(line) for line in narrow) <= 80, outputs["narrow"]
    assert narrow[0].split() == ["SET", "AGE", "VERIFIED", "LAST", "RUN"]
    assert any(line.startswith("postgres/application_database/20241101_020000 ") for line in narrow), narrow
    assert "PATH" not in outputs["narrow"] and "d ago" in outputs["narrow"]
    for label in ("wide", "pipe"):
        assert str(postgres / "backup_application_database_20241101_020000.dump") in outputs[label], outputs[label]
