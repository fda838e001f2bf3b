"""Troubleshooting against the private PostgreSQL and Redis, and a real BACKUP_DIR."""

from __future__ import annotations

import json
import time

import pytest

from console.cli import main
from console.errors import ReadOnlyRefused
from console.troubleshoot import disk_usage, long_transactions, redis_persistence, terminate_backend
from tests.retention_fixtures import make_set


@pytest.fixture
def open_transaction(pg_cluster, pg_database):
    conn = pg_cluster.connect(pg_database, autocommit=False)
    conn.execute("SET application_name = 'stuck-report'")
    conn.execute("SELECT count(*) FROM pg_class")  # opens a transaction that stays open
    pid = conn.info.backend_pid
    time.sleep(1.2)
    yield pid
    conn.close()


def test_long_transaction_listed_and_terminated(pg_cluster, open_transaction, make_settings, capsys):
    settings = make_settings(pg_cluster.overrides())
    diagnosis = long_transactions(settings, min_seconds=1)
    row = next(row for row in diagnosis.rows if row["pid"] == open_transaction)
    assert row["application"] == "stuck-report" and row["age_seconds"] >= 1
    assert "count(*) FROM pg_class" in row["query"]
    assert diagnosis.status == "warning" and "pg_stat_activity" in diagnosis.evidence[0]

    with pytest.raises(ReadOnlyRefused):
        terminate_backend(make_settings(pg_cluster.overrides(), read_only=True), open_transaction)
    env_args = ["--config", str(_config(pg_cluster, settings.backup_dir))]
    assert main([*env_args, "troubleshoot", "terminate", str(open_transaction)]) == 2  # needs --yes
    assert "--yes" in capsys.readouterr().err
    assert main([*env_args, "--read-only", "troubleshoot", "terminate", str(open_transaction), "--yes"]) == 2
    assert main([*env_args, "troubleshoot", "terminate", str(open_transaction), "--yes", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "ok" and f"pg_terminate_backend({open_transaction}) returned True" in result["evidence"][0]
    assert not any(row["pid"] == open_transaction for row in long_transactions(settings, min_seconds=0).rows)


def _config(pg_cluster, backup_dir):
    path = backup_dir.parent / "pg.yaml"
    path.write_text(f"backup_dir: {backup_dir}\npostgres:\n  host: {pg_cluster.host}\n  port: {pg_cluster.port}\n"
                    f"  user: {pg_cluster.user}\n")
    return path


def test_terminate_unknown_pid_is_a_clear_error(pg_cluster, make_settings):
    from console.errors import ConsoleError

    with pytest.raises(ConsoleError, match="no PostgreSQL backend with pid 999999"):
        terminate_backend(make_settings(pg_cluster.overrides()), 999999)


def test_postgres_down_is_one_line(own_pg_cluster, make_settings, capsys, tmp_path):
    config = _config(own_pg_cluster, tmp_path / "backups")
    own_pg_cluster.stop()
    assert main(["--config", str(config), "troubleshoot", "transactions"]) == 1
    err = capsys.readouterr().err
    assert f"connection refused at 127.0.0.1:{own_pg_cluster.port}" in err and "Traceback" not in err


def test_disk_usage_lists_largest_files_per_kind(backup_dir, make_settings):
    make_set(backup_dir, "postgres", "20261120_020000", size=50_000)
    make_set(backup_dir, "redis", "20261120_020000", size=10_000)
    (backup_dir / "postgres" / "stray.bin").write_bytes(b"s" * 80_000)
    diagnosis = disk_usage(make_settings(), top=3)
    assert [row["path"] for row in diagnosis.rows] == [
        "postgres/stray.bin", "postgres/backup_app_20261120_020000.sql.gz", "postgres/backup_app_20261120_020000.dump"]
    assert diagnosis.rows[0]["recognised"] is False and diagnosis.rows[1]["recognised"] is True
    assert "walked 7 file(s)" in diagnosis.evidence[0]
    assert "postgres 180.1 kB" in diagnosis.evidence[1] and "redis 20.1 kB" in diagnosis.evidence[1]
    assert any("not backups the console knows" in line for line in diagnosis.advice)


def test_redis_failed_bgsave_gives_aof_advice(make_redis_server, make_settings):
    server = make_redis_server(appendonly=True, extra={"dbfilename": "blocked.rdb"})
    (server.dir / "blocked.rdb").mkdir()  # the rename after BGSAVE fails: a real save error
    client = server.client()
    client.set("k", "v")
    client.bgsave()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and client.info("persistence")["rdb_bgsave_in_progress"]:
        time.sleep(0.1)
    diagnosis = redis_persistence(make_settings(server.overrides()))
    assert diagnosis.status == "problem"
    assert "last BGSAVE FAILED; AOF on" in diagnosis.summary
    assert any("restore from the newest aof_<ts> backup" in line for line in diagnosis.advice)
    fields = {row["field"]: row["value"] for row in diagnosis.rows}
    assert fields["rdb_last_bgsave_status"] == "err" and fields["config dbfilename"] == "blocked.rdb"
    assert any(row["field"] == "log" for row in diagnosis.rows), diagnosis.rows
    assert any("save error" in line for line in diagnosis.evidence)


def test_redis_healthy_without_aof_is_a_warning(make_redis_server, make_settings):
    server = make_redis_server(appendonly=False)
    diagnosis = redis_persistence(make_settings(server.overrides()))
    assert diagnosis.status == "warning" and "AOF off" in diagnosis.summary


def test_cli_disk_and_redis(backup_dir, make_redis_server, tmp_path, capsys):
    make_set(backup_dir, "postgres", "20261120_020000", size=2048)
    server = make_redis_server(appendonly=True)
    config = tmp_path / "bc.yaml"
    config.write_text(f"backup_dir: {backup_dir}\nredis:\n  host: 127.0.0.1\n  port: {server.port}\n")
    assert main(["--config", str(config), "troubleshoot", "disk", "--top", "2", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [row["path"] for row in document["rows"]] == ["postgres/backup_app_20261120_020000.sql.gz",
                                                         "postgres/backup_app_20261120_020000.dump"]
    assert main(["--config", str(config), "troubleshoot", "redis"]) == 0
    out = capsys.readouterr().out
    assert "Redis persistence: OK: last BGSAVE ok; AOF on" in out and "evidence: INFO persistence from" in out
