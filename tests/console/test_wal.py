"""WAL archiving status and enabling, on private clusters with archiving on and off."""

from __future__ import annotations

import json
import os
import pwd
import tempfile
from pathlib import Path

import pytest

from console.cli import main
from console.errors import ReadOnlyRefused
from console.wal import STATE_FILE, archive_dir_from_command, enable_statements, wal_status
from tests.postgres_fixtures import wait_until
from tests.servers import PgCluster


@pytest.fixture
def archive_dir():
    directory = Path(tempfile.mkdtemp(prefix="bc-wal-"))
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(directory, entry.pw_uid, entry.pw_gid)
    yield directory
    import shutil

    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def archiving_cluster(archive_dir):
    cluster = PgCluster(extra_conf={"wal_level": "replica", "archive_mode": "on",
                                    "archive_command": f"'test ! -f {archive_dir}/%f && cp %p {archive_dir}/%f'"})
    cluster.init().start()
    yield cluster
    cluster.destroy()


def test_archived_count_rises_after_pg_switch_wal(archiving_cluster, archive_dir, make_settings, capsys):
    settings = make_settings(archiving_cluster.overrides())
    before = wal_status(settings)
    assert before.archive_mode == "on" and before.wal_level == "replica"
    assert before.archive_dir == str(archive_dir)
    with archiving_cluster.connect() as conn:
        conn.execute("CREATE TABLE churn AS SELECT generate_series(1, 1000) AS n")
        conn.execute("SELECT pg_switch_wal()")
    assert wait_until(lambda: wal_status(settings).archived_count > before.archived_count, timeout=30)
    after = wal_status(settings)
    assert after.ok, after.problems
    assert after.last_archived_wal and after.archive_files >= 1
    assert after.newest_files[0].name == after.last_archived_wal
    code = main(["wal", "status", "--json", "--config", _config(settings, archiving_cluster)])
    document = json.loads(capsys.readouterr().out)
    assert code == 0 and document["archived_count"] >= after.archived_count and document["ok"] is True


def _config(settings, cluster) -> str:
    path = Path(settings.backup_dir).parent / "wal-config.yaml"
    path.write_text(f"backup_dir: {settings.backup_dir}\npostgres:\n  host: {cluster.host}\n  port: {cluster.port}\n")
    return str(path)


def test_archiving_off_fails_and_new_failures_are_counted_once(pg_cluster, make_settings, capsys):
    settings = make_settings(pg_cluster.overrides())
    status = wal_status(settings)
    assert not status.ok and "archiving is off" in status.problems[0]
    assert main(["wal", "status", "--config", _config(settings, pg_cluster)]) == 1
    assert "archiving is off" in capsys.readouterr().err
    # failures are judged against the count kept in BACKUP_DIR/.state
    state = settings.root.state_file(STATE_FILE)
    saved = json.loads(state.read_text())
    assert saved["failed_count"] == status.failed_count and saved["port"] == pg_cluster.port


def test_enable_prints_the_statements_and_apply_says_restart(own_pg_cluster, archive_dir, make_settings, capsys):
    settings = make_settings(own_pg_cluster.overrides())
    config = _config(settings, own_pg_cluster)
    assert main(["wal", "enable", "--archive-dir", str(archive_dir), "--config", config]) == 0
    printed = capsys.readouterr().out
    assert "ALTER SYSTEM SET archive_mode = on;" in printed and "RESTART" in printed
    assert main(["--read-only", "wal", "enable", "--archive-dir", str(archive_dir), "--apply", "--config", config]) == 2
    assert "read-only" in capsys.readouterr().err
    assert main(["wal", "enable", "--archive-dir", str(archive_dir), "--apply", "--config", config]) == 0
    printed = capsys.readouterr().out
    assert "RESTART NEEDED: archive_mode" in printed
    own_pg_cluster.restart()
    status = wal_status(settings)
    assert status.archive_mode == "on" and status.archive_dir == str(archive_dir)


def test_statement_helpers():
    statements = enable_statements("/backups/postgres/wal")
    assert statements[2] == ("ALTER SYSTEM SET archive_command = "
                             "'test ! -f /backups/postgres/wal/%f && cp %p /backups/postgres/wal/%f'")
    assert archive_dir_from_command("test ! -f /backups/postgres/wal/%f && cp %p /backups/postgres/wal/%f") == \
        "/backups/postgres/wal"
    assert archive_dir_from_command("") is None
    assert ReadOnlyRefused("x").exit_code == 2


def test_failures_alert_once_then_not_again_until_new_ones(make_settings):
    cluster = PgCluster(extra_conf={"wal_level": "replica", "archive_mode": "on", "archive_command": "'false'"})
    cluster.init().start()
    try:
        settings = make_settings(cluster.overrides())
        with cluster.connect() as conn:
            conn.execute("CREATE TABLE churn AS SELECT generate_series(1, 1000) AS n")
            conn.execute("SELECT pg_switch_wal()")
        # the archiver tries three times a second apart, then waits a minute before the next round
        assert wait_until(lambda: wal_status(settings, remember=False).failed_count >= 3, timeout=30)
        first = wal_status(settings)
        assert not first.ok and first.new_failures >= 3 and "first check" in first.problems[0]
        assert first.last_failed_wal
        second = wal_status(settings)
        assert second.new_failures == 0 and second.ok, second.problems
    finally:
        cluster.destroy()
