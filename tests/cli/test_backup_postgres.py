"""``backup-console backup postgres`` and ``restore postgres`` end to end, as cron would run them."""

from __future__ import annotations

import json
import uuid

import pytest

from console.cli import main
from console.kinds.base import BackupRequest
from console.runner import execute
from tests.postgres_fixtures import (TableLock, drop_database, password_cluster_role, pg_seed_template,  # noqa: F401
                                     processes_named, run_in_thread, seeded_db, wait_until)


@pytest.fixture
def manual_env(monkeypatch, backup_dir):
    def point_at(cluster, database, **extra):
        monkeypatch.setenv("POSTGRES_HOST", cluster.host)
        monkeypatch.setenv("POSTGRES_PORT", str(cluster.port))
        monkeypatch.setenv("POSTGRES_USER", cluster.user)
        monkeypatch.setenv("POSTGRES_DB", database)
        monkeypatch.setenv("BACKUP_DIR", str(backup_dir))
        for key, value in extra.items():
            monkeypatch.setenv(key, value)

    return point_at


def test_backup_json_then_restore_cli(pg_cluster, seeded_db, manual_env, capsys, backup_dir):
    manual_env(pg_cluster, seeded_db)
    assert main(["backup", "postgres", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "ok" and result["target"] == seeded_db
    assert [f["name"].rsplit(".", 2)[-2:] for f in result["files"]][:2] == [["dump", "zst"], ["sql", "gz"]]
    target = f"cli_{uuid.uuid4().hex[:8]}"
    try:
        code = main(["restore", "postgres", result["set_id"], "--target-db", target, "--create"])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert "sales.orders" in captured.out and "DIFFERENT" not in captured.out
        assert "result: ok" in captured.out
        assert main(["restore", "postgres", result["set_id"], "--target-db", target]) == 2
        assert "is not empty" in capsys.readouterr().err
        assert main(["--read-only", "restore", "postgres", result["set_id"], "--target-db", target,
                     "--clean", "--yes"]) == 2
        assert "read-only" in capsys.readouterr().err
    finally:
        drop_database(pg_cluster, target)


def test_second_concurrent_run_is_refused_with_exit_11(pg_cluster, seeded_db, manual_env, make_settings, capsys):
    manual_env(pg_cluster, seeded_db)
    settings = make_settings(pg_cluster.overrides(seeded_db))
    lock = TableLock(pg_cluster, seeded_db)
    try:
        thread, box = run_in_thread(execute, settings, BackupRequest("postgres", seeded_db))
        assert wait_until(lambda: bool(processes_named("pg_dump", f"port='{pg_cluster.port}'")))
        code = main(["backup", "postgres", "--db", seeded_db])
    finally:
        lock.release()
    thread.join(60)
    err = capsys.readouterr().err
    assert code == 11
    assert "already running" in err and "Traceback" not in err
    assert box["result"].ok, box["result"].message


def test_server_down_fails_preflight_with_one_clear_line(own_pg_cluster, manual_env, capsys, backup_dir):
    manual_env(own_pg_cluster, "postgres")
    own_pg_cluster.stop()
    code = main(["backup", "postgres"])
    err = capsys.readouterr().err
    assert code == 1
    failed = [line for line in err.splitlines() if "FAILED" in line]
    assert len(failed) == 1
    assert failed[0].startswith("postgres backup of postgres: FAILED: pre-flight failed:")
    assert f"connection refused at 127.0.0.1:{own_pg_cluster.port}" in failed[0]
    assert failed[0].count("connection refused") == 1
    assert "Traceback" not in err
    assert not (backup_dir / "postgres").exists() or not list((backup_dir / "postgres").iterdir())


def test_wrong_password_is_a_clear_error_and_never_shown(own_pg_cluster, manual_env, capsys, backup_dir):
    password_cluster_role(own_pg_cluster, "dumper", "right-" + uuid.uuid4().hex)
    wrong = "wrong-" + uuid.uuid4().hex
    manual_env(own_pg_cluster, "postgres", POSTGRES_USER="dumper", POSTGRES_PASSWORD=wrong)
    assert main(["backup", "postgres"]) == 1
    first = capsys.readouterr()
    assert "authentication failed for user 'dumper'" in first.err
    # forced past the pre-flight, the dump itself fails just as clearly
    assert main(["backup", "postgres", "--json", "--force", "--reason", "checking the error path"]) == 1
    second = capsys.readouterr()
    document = json.loads(second.out)
    assert document["status"] == "failed" and "authentication failed" in document["message"]
    logged = "".join(path.read_text() for path in backup_dir.rglob("*") if path.is_file())
    for text in (first.out, first.err, second.out, second.err, logged):
        assert wrong not in text
