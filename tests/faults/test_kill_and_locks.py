"""SIGKILL of the console mid-backup, then a rerun; stale-lock recovery beside a neighbour's run."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from tests.faults.conftest import CANARIES, Console, canary_hits, count_fault, kill_group, wait_for
from tests.postgres_fixtures import TableLock, drop_database, processes_named, pg_seed_template, seeded_db  # noqa: F401
from tests.servers import PgCluster


def _partials(directory: Path) -> list[Path]:
    return sorted(directory.rglob("*.partial")) if directory.is_dir() else []


def _runs(backup_dir: Path) -> list[dict]:
    path = backup_dir / ".runs" / "runs.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def test_stale_lock_recovery_leaves_a_neighbours_partials_alone(
        console_pg: Console, pg_cluster: PgCluster, pg_seed_template: str, backup_dir: Path, tmp_path: Path) -> None:
    """SIGKILL `backup postgres --db app`; while `--db app2` writes, rerun `--db app`: app2 must finish."""
    from tests.postgres_fixtures import drop_database as drop

    unique = uuid.uuid4().hex[:8]
    app, app2 = f"app_{unique}", f"app2_{unique}"
    for name in (app, app2):
        with pg_cluster.connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_seed_template}"')
    postgres_dir = backup_dir / "postgres"
    lock_app = TableLock(pg_cluster, app)
    lock_app2 = TableLock(pg_cluster, app2)
    try:
        killed = console_pg.spawn("backup", "postgres", "--db", app)
        assert wait_for(lambda: any(app + "_" in p.name for p in _partials(postgres_dir)))
        kill_group(killed)
        count_fault()
        lock_app.release()
        dead_partials = [p for p in _partials(postgres_dir) if f"backup_{app}_" in p.name]
        assert dead_partials, "the killed run left partial files (that is what recovery is for)"

        neighbour = console_pg.spawn("backup", "postgres", "--db", app2, "--json")
        assert wait_for(lambda: any(f"backup_{app2}_" in p.name for p in _partials(postgres_dir)))
        neighbour_partials = [p for p in _partials(postgres_dir) if f"backup_{app2}_" in p.name]
        def neighbour_dumps() -> list:
            return [found for found in processes_named("pg_dump", f"dbname='{app2}'")
                    if f"port='{pg_cluster.port}'" in " ".join(found[1])]  # this session's cluster only

        # the partial file is opened a moment before pg_dump has exec'd: wait for the process itself
        assert wait_for(lambda: bool(neighbour_dumps())), "pg_dump of the neighbour is running"
        dumps = neighbour_dumps()
        for _pid, _argv, child_env in dumps:  # the child gets its own credential and nothing else
            assert child_env.get("PGPASSWORD") == CANARIES.postgres
            assert not {"BACKUP_ENCRYPTION_KEY", "AWS_SECRET_ACCESS_KEY", "PGPASSFILE"} & set(child_env)

        rerun = console_pg.run("backup", "postgres", "--db", app, "--json")
        assert rerun.code == 0, rerun.err
        assert all(p.exists() for p in neighbour_partials), "recovery removed a concurrently running backup's files"
        assert not any(p.exists() for p in dead_partials), "the dead run's partials must be gone"

        lock_app2.release()
        finished = console_pg.finish(neighbour)
        assert finished.code == 0, finished.err
        assert json.loads(finished.out)["status"] == "ok"
        statuses = {(r["target"], r["status"]) for r in _runs(backup_dir)}
        assert {(app, "ok"), (app2, "ok")} <= statuses
        assert not _partials(postgres_dir)
        assert canary_hits(backup_dir, tmp_path / "tmp", *console_pg.outputs) == []
    finally:
        lock_app.release()
        lock_app2.release()
        for name in (app, app2):
            drop(pg_cluster, name)


def test_a_vanished_partial_is_a_failed_run_on_record(
        console_pg: Console, pg_cluster: PgCluster, seeded_db: str, backup_dir: Path, tmp_path: Path) -> None:
    """Someone (a cleanup cron, an operator) deletes a partial file mid-run: a failed run, named, recorded."""
    postgres_dir = backup_dir / "postgres"
    lock = TableLock(pg_cluster, seeded_db)
    try:
        running = console_pg.spawn("backup", "postgres", "--db", seeded_db, "--json")
        assert wait_for(lambda: len(_partials(postgres_dir)) >= 2)
        victim = next(p for p in _partials(postgres_dir) if ".sql." in p.name)
        victim.unlink()
        count_fault()
    finally:
        lock.release()
    finished = console_pg.finish(running)
    assert finished.code == 1, finished.err
    assert "Traceback" not in finished.err and "internal error" not in finished.err and "?:" not in finished.err
    document = json.loads(finished.out)
    assert document["status"] == "failed"
    assert "No such file or directory" in document["message"] and victim.name in document["message"]
    runs = _runs(backup_dir)
    assert runs[-1]["status"] == "failed" and runs[-1]["target"] == seeded_db
    assert not [p for p in postgres_dir.rglob("*") if p.is_file()], "nothing of the failed set may stay"
    monitor = console_pg.run("monitor", "--json")
    assert monitor.code != 0
    again = console_pg.run("backup", "postgres", "--db", seeded_db)
    assert again.code == 0, again.err


def test_sigkill_mid_restore_leaves_the_target_as_it_was_and_the_rerun_succeeds(
        console: Console, backup_dir: Path, tmp_path: Path) -> None:
    import io
    import tarfile

    directory = backup_dir / "config"
    directory.mkdir(parents=True)
    archive = directory / "config_20250101_020000.tar.gz"
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        for name in ("a.txt", "big.bin", "z.txt"):
            size = 400 * 1024 * 1024 if name == "big.bin" else 10
            info = tarfile.TarInfo(name)
            info.size = size
            tar.addfile(info, io.BytesIO(b"\0" * size))
    target = tmp_path / "target"
    target.mkdir()
    (target / "a.txt").write_text("old a\n")
    running = console.spawn("restore", "config", str(archive), "--to", str(target), "--yes")
    assert wait_for(lambda: any((p / "big.bin").exists() for p in target.glob(".bc-restore-*")), timeout=60)
    kill_group(running)
    count_fault()
    assert (target / "a.txt").read_text() == "old a\n" and not (target / "big.bin").exists()
    assert sorted(p.name for p in target.iterdir() if not p.name.startswith(".bc-restore-")) == ["a.txt"]
    again = console.run("restore", "config", str(archive), "--to", str(target), "--yes", timeout=300)
    assert again.code == 0, again.err
    assert sorted(p.name for p in target.iterdir()) == ["a.txt", "big.bin", "z.txt"]  # the stale staging is gone


def test_sigkill_mid_postgres_restore_is_on_record_and_the_half_restored_target_is_named(
        console_pg: Console, pg_cluster: PgCluster, backup_dir: Path) -> None:
    unique = uuid.uuid4().hex[:8]
    source, target = f"src_{unique}", f"restored_{unique}"
    pg_cluster.create_database(source)
    with pg_cluster.connect(source) as conn:
        conn.execute("CREATE TABLE a_rows (id int, note text)")
        conn.execute("INSERT INTO a_rows SELECT g, md5(g::text) FROM generate_series(1, 300000) g")
        conn.execute("CREATE TABLE z_held (id int)")  # its data comes after a_rows': held, the restore waits
        conn.execute("INSERT INTO z_held SELECT generate_series(1, 10)")
    backed_up = console_pg.run("backup", "postgres", "--db", source, "--json")
    assert backed_up.code == 0, backed_up.err
    set_id = json.loads(backed_up.out)["set_id"]
    held = None
    try:
        running = console_pg.spawn("restore", "postgres", set_id, "--target-db", target, "--create")

        def take_z_held() -> bool:
            nonlocal held
            try:
                conn = pg_cluster.connect(target, autocommit=False)
            except Exception:  # noqa: BLE001 - the database is not created yet
                return False
            try:
                conn.execute("LOCK TABLE z_held IN ACCESS EXCLUSIVE MODE")
            except Exception:  # noqa: BLE001 - the table is not created yet
                conn.close()
                return False
            held = conn
            return True

        assert wait_for(take_z_held, timeout=60)
        with pg_cluster.connect() as conn:
            assert wait_for(lambda: conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
                (target,)).fetchone()[0] > 0, timeout=60)
        kill_group(running)  # the console and its pg_restore, mid-restore
        count_fault()
        held.rollback()
        held.close()
        records = len(_runs(backup_dir))
        again = console_pg.run("restore", "postgres", set_id, "--target-db", target, "--create")
        assert again.code == 2, again.err
        assert "interrupted restore" in again.err and f"pid {running.pid}" in again.err and target in again.err
        assert "--clean --yes" in again.err and "Traceback" not in again.err
        dead, refused = _runs(backup_dir)[records:]
        assert (dead["status"], dead["pid"], dead["target"]) == ("failed", running.pid, target)
        assert "interrupted" in dead["message"]
        assert refused["status"] == "failed" and refused["pid"] != running.pid
        restored = console_pg.run("restore", "postgres", set_id, "--target-db", target, "--clean", "--yes",
                                  "--json")
        assert restored.code == 0, restored.err
        report = json.loads(restored.out)
        assert report["ok"] and any("interrupted restore" in note for note in report["notes"])
        assert _runs(backup_dir)[-1]["status"] == "ok" and len(_runs(backup_dir)) == records + 3  # no second record
        with pg_cluster.connect(target) as conn:
            assert conn.execute("SELECT count(*) FROM z_held").fetchone()[0] == 10
        locks = list((backup_dir / ".locks").glob("restore-postgres-*.lock"))
        assert locks and all(lock.read_text() == "" for lock in locks)  # released cleanly this time
    finally:
        if held is not None and not held.closed:
            held.close()
        drop_database(pg_cluster, target)
        drop_database(pg_cluster, source)


def test_a_second_run_of_the_same_backup_is_refused_with_exit_11(
        console_pg: Console, pg_cluster: PgCluster, seeded_db: str, backup_dir: Path) -> None:
    lock = TableLock(pg_cluster, seeded_db)
    try:
        first = console_pg.spawn("backup", "postgres", "--db", seeded_db)
        assert wait_for(lambda: bool(_partials(backup_dir / "postgres")))
        count_fault()
        second = console_pg.run("backup", "postgres", "--db", seeded_db)
        assert second.code == 11, second.err
        assert "already running" in second.err and "Traceback" not in second.err
    finally:
        lock.release()
    assert console_pg.finish(first).code == 0
