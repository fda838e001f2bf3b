"""PostgreSQL backups against a real private cluster: artefacts, metadata, faults and secrets."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import pytest
import zstandard

from console.kinds.base import BackupRequest
from console.kinds.postgres.backup import targets
from console.kinds.registry import run_checks
from console.preflight import CheckContext
from console.progress import CancelToken, ProgressEvent
from console.root import BackupRoot
from console.runlog import read_runs
from console.runner import execute
from console.status import Status
from tests.clock import next_second
from tests.postgres_fixtures import (EXPECTED_TABLES, TableLock, drop_database, password_cluster_role,  # noqa: F401
                                     pg_seed_template, processes_named, run_in_thread, seeded_db, table_counts,
                                     wait_until)

MANUAL_FIELDS = ("backup_type", "timestamp", "database", "host", "version", "backup_method", "files", "database_stats",
                 "backup_time_seconds", "compression_ratio", "s3_uploaded", "s3_bucket", "verification_status",
                 "retention_days")
OUR_FIELDS = ("producer", "set_id", "duration_seconds", "artifacts", "pg_dump_version", "compression", "consistency",
              "snapshot", "wal_lsn_start", "wal_lsn_end", "table_row_counts", "force_reason")


def _files(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()) if directory.exists() else []


def test_backup_writes_both_artefacts_and_sql_restores_with_psql(pg_cluster, seeded_db, make_settings, backup_dir):
    settings = make_settings(pg_cluster.overrides(seeded_db))
    result = execute(settings, BackupRequest("postgres", seeded_db))
    assert result.ok, result.message
    names = [info.name for info in result.files]
    assert names[0].endswith(".dump.zst") and names[1].endswith(".sql.gz") and names[2].endswith(".json")
    stamp = result.set_id.rsplit("/", 1)[1]
    assert all(f"_{stamp}." in name for name in names)
    sql_path = backup_dir / "postgres" / names[1]
    with gzip.open(sql_path, "rb") as handle:
        tail = handle.read()[-600:]
    assert b"PostgreSQL database dump complete" in tail
    target = f"psql_{uuid.uuid4().hex[:8]}"
    pg_cluster.create_database(target)
    try:
        with gzip.open(sql_path, "rb") as source:
            psql = subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "-q", "-h", pg_cluster.host, "-p",
                                   str(pg_cluster.port), "-U", pg_cluster.user, "-d", target],
                                  input=source.read(), capture_output=True)
        assert psql.returncode == 0, psql.stderr.decode()[-500:]
        assert table_counts(pg_cluster, target) == table_counts(pg_cluster, seeded_db)
    finally:
        drop_database(pg_cluster, target)


def test_metadata_has_every_field_and_correct_sha256(pg_cluster, seeded_db, make_settings, backup_dir):
    settings = make_settings(pg_cluster.overrides(seeded_db))
    result = execute(settings, BackupRequest("postgres", seeded_db, force_reason=None))
    assert result.ok, result.message
    document = json.loads(result.metadata_path.read_text())
    for key in MANUAL_FIELDS + OUR_FIELDS:
        assert key in document, key
    assert document["backup_type"] == "full_daily"
    assert datetime.fromisoformat(document["timestamp"]).utcoffset() is not None
    assert isinstance(document["compression_ratio"], float) and 0 < document["compression_ratio"] < 100
    assert document["s3_uploaded"] is False and document["s3_bucket"] is None
    assert document["verification_status"] == "pending" and document["retention_days"] == 30
    assert document["consistency"] == "sql derived from the custom dump via pg_restore -f -"
    assert document["producer"].startswith("backup-console ")
    expected = table_counts(pg_cluster, seeded_db)
    assert document["table_row_counts"] == expected
    assert set(expected) == EXPECTED_TABLES
    stats = document["database_stats"]
    assert stats["row_count"] == sum(expected.values()) and stats["table_count"] == len(EXPECTED_TABLES)
    assert stats["large_object_count"] == 1 and len(stats["schema_hash"]) == 64
    for role, key in (("dump", "dump_custom"), ("sql", "dump_sql")):
        entry = document["files"][key]
        path = backup_dir / "postgres" / entry["name"]
        assert entry["size_bytes"] == path.stat().st_size
        assert entry["size_mb"] == path.stat().st_size // (1024 * 1024)
        artifact = next(a for a in document["artifacts"] if a["role"] == role)
        assert artifact["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
    # the custom artefact is a real custom-format dump once decompressed
    raw = zstandard.ZstdDecompressor().stream_reader(open(backup_dir / "postgres" / document["files"]["dump_custom"]["name"], "rb")).read(5)
    assert raw == b"PGDMP"
    assert document["wal_lsn_start"] and "/" in document["wal_lsn_start"]
    assert "password" not in json.dumps(document).lower()


def test_schema_hash_is_stable_across_runs(pg_cluster, seeded_db, make_settings):
    settings = make_settings(pg_cluster.overrides(seeded_db))
    first = execute(settings, BackupRequest("postgres", seeded_db))
    next_second()  # a new stamp
    second = execute(settings, BackupRequest("postgres", seeded_db))
    hashes = [json.loads(r.metadata_path.read_text())["database_stats"]["schema_hash"] for r in (first, second)]
    assert hashes[0] == hashes[1]


def test_manual_compatible_names_by_config(pg_cluster, seeded_db, make_settings, backup_dir):
    settings = make_settings(pg_cluster.overrides(seeded_db), **{"postgres.dump_compression": "pg_dump",
                                                                "postgres.sql_compression": "zstd"})
    result = execute(settings, BackupRequest("postgres", seeded_db, options={"archive": True}))
    assert result.ok, result.message
    names = [info.name for info in result.files]
    assert names[0].endswith(".dump") and names[1].endswith(".sql.zst")
    assert (backup_dir / "postgres" / names[0]).read_bytes()[:5] == b"PGDMP"
    archive = result.files[-1].path
    assert archive.parent == backup_dir / "postgres" / "archives" and archive.name.startswith("backup_")
    assert archive.name.endswith(".tar")
    import tarfile

    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == sorted(names[:3])


def test_cancel_mid_dump_leaves_no_partial_file(pg_cluster, seeded_db, make_settings, backup_dir):
    settings = make_settings(pg_cluster.overrides(seeded_db))
    lock = TableLock(pg_cluster, seeded_db)  # pg_dump waits on it: the dump is mid-way for as long as we like
    cancel = CancelToken()
    events: list[ProgressEvent] = []
    try:
        thread, box = run_in_thread(execute, settings, BackupRequest("postgres", seeded_db),
                                    on_progress=events.append, cancel=cancel)
        assert wait_until(lambda: any(p.name.endswith(".partial") for p in (backup_dir / "postgres").glob("*"))
                          if (backup_dir / "postgres").exists() else False)
        assert wait_until(lambda: bool(processes_named("pg_dump", f"port='{pg_cluster.port}'")))
        cancel.cancel()
        thread.join(30)
    finally:
        lock.release()
    result = box["result"]
    assert result.status == "cancelled"
    assert _files(backup_dir / "postgres") == []
    assert not processes_named("pg_dump", f"port='{pg_cluster.port}'")
    assert read_runs(backup_dir)[-1].status == "cancelled"


def test_stale_lock_is_recovered(pg_cluster, seeded_db, make_settings, backup_dir):
    settings = make_settings(pg_cluster.overrides(seeded_db))
    dead = subprocess.Popen(["true"])
    dead.wait()
    lock_file = BackupRoot(backup_dir).lock_file(f"postgres-{seeded_db}")
    lock_file.parent.mkdir(parents=True)
    lock_file.write_text(json.dumps({"pid": dead.pid, "host": "localhost", "started": time.time() - 3600,
                                     "description": "postgres backup"}))
    leftover = backup_dir / "postgres" / f"backup_{seeded_db}_20200101_000000.dump.zst.{dead.pid}.partial"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"half a dump")
    messages: list[str] = []
    result = execute(settings, BackupRequest("postgres", seeded_db),
                     on_progress=lambda ev: messages.append(ev.message) if ev.message else None)
    assert result.ok, result.message
    assert any(f"stale lock left by pid {dead.pid}" in m for m in messages)
    assert not leftover.exists()


def test_long_open_transaction_is_reported(pg_cluster, seeded_db, make_settings):
    settings = make_settings(pg_cluster.overrides(seeded_db), **{"postgres.long_transaction_seconds": 1})
    conn = pg_cluster.connect(seeded_db, autocommit=False)
    try:
        conn.execute("SELECT count(*) FROM customers /* a report that never commits */")
        pid = conn.info.backend_pid
        time.sleep(1.3)
        [check] = run_checks(["postgres.long_transactions"], CheckContext(settings, seeded_db))
    finally:
        conn.close()
    assert check.status is Status.FAIL
    assert f"pid {pid}" in check.evidence
    listed = {t["pid"]: t for t in check.details["transactions"]}
    assert listed[pid]["user"] == "postgres" and listed[pid]["age_seconds"] >= 1
    assert listed[pid]["query"].startswith("SELECT count(*) FROM customers") and len(listed[pid]["query"]) <= 80


def test_preflight_passes_on_a_healthy_database(pg_cluster, seeded_db, make_settings):
    from console.runner import preflight

    results = preflight(make_settings(pg_cluster.overrides(seeded_db)), BackupRequest("postgres", seeded_db))
    by_id = {r.id: r for r in results}
    assert by_id["postgres.healthy"].status is Status.OK
    assert by_id["postgres.disk_space"].evidence.startswith("free ")
    assert by_id["postgres.credentials"].status is Status.OK
    assert by_id["common.s3_reachable"].status is Status.SKIP
    assert "first run" in by_id["postgres.previous_backup"].evidence


@pytest.fixture
def tiny_tmpfs(tmp_path):
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_disk_full_fails_the_run_and_leaves_nothing(pg_cluster, seeded_db, make_settings, tiny_tmpfs):
    settings = make_settings(pg_cluster.overrides(seeded_db), backup_dir=str(tiny_tmpfs))
    stopped = execute(settings, BackupRequest("postgres", seeded_db))
    assert stopped.status == "failed" and "pre-flight" in stopped.message
    disk = next(check for check in stopped.checks if check.id == "postgres.disk_space")
    assert disk.status is Status.FAIL and "< 2 x database size" in disk.evidence, disk.evidence
    result = execute(settings, BackupRequest("postgres", seeded_db, force_reason="testing a full disk"))
    assert result.status == "failed"
    assert "no space left" in result.message
    assert _files(tiny_tmpfs / "postgres") == []
    runs = read_runs(tiny_tmpfs)
    assert [run.status for run in runs[-2:]] == ["failed", "failed"]
    assert runs[-1].force_reason == "testing a full disk" and runs[-2].force_reason is None


def test_a_table_lock_held_past_the_timeout_fails_the_backup_instead_of_hanging(pg_cluster, seeded_db, make_settings,
                                                                                  backup_dir):
    settings = make_settings(pg_cluster.overrides(seeded_db), **{"postgres.lock_wait_timeout_seconds": 1})
    lock = TableLock(pg_cluster, seeded_db)  # a migration holding ACCESS EXCLUSIVE on customers
    try:
        started = time.monotonic()
        result = execute(settings, BackupRequest("postgres", seeded_db, force_reason="lock held on purpose"))
        waited = time.monotonic() - started
    finally:
        lock.release()
    assert result.status == "failed"
    assert "pg_dump failed" in result.message and "customers" in result.message, result.message
    assert waited < 30
    assert _files(backup_dir / "postgres") == []
    assert read_runs(backup_dir)[-1].status == "failed"


def test_password_reaches_pg_dump_only_through_its_environment(own_pg_cluster, make_settings, backup_dir):
    secret = "s3cr3t-" + uuid.uuid4().hex[:8]
    password_cluster_role(own_pg_cluster, "dumper", secret)
    own_pg_cluster.create_database("shop")
    with own_pg_cluster.connect("shop") as conn:
        conn.execute("CREATE TABLE customers (id int)")
        conn.execute("INSERT INTO customers SELECT generate_series(1, 100)")
    settings = make_settings(own_pg_cluster.overrides("shop"), **{"postgres.user": "dumper",
                                                                 "postgres.password": secret})
    lock = TableLock(own_pg_cluster, "shop")
    try:
        thread, box = run_in_thread(execute, settings, BackupRequest("postgres", "shop"))
        port = f"port='{own_pg_cluster.port}'"

        def both_running() -> list:
            # pg_restore is spawned just after pg_dump; until it has exec'd, /proc shows a python child
            return processes_named("pg_dump", port) + processes_named("pg_restore", parent=os.getpid())

        assert wait_until(lambda: len(both_running()) == 2)
        seen = both_running()
        assert len(seen) == 2
    finally:
        lock.release()
    thread.join(60)
    assert box["result"].ok, box["result"].message
    assert seen
    for _pid, argv, env in seen:
        assert secret not in " ".join(argv)
        assert env.get("PGPASSWORD") == secret  # in the child's environment only: nothing on disk
        assert "PGPASSFILE" not in env
        assert not list(Path(tempfile.gettempdir()).glob("bc-pgpass-*/pgpass"))
    everything = "".join(p.read_text(errors="replace") for p in backup_dir.rglob("*") if p.suffix in (".json", ".jsonl"))
    assert secret not in everything


def test_copy_row_counter_is_exact_whatever_the_chunking():
    from console.kinds.postgres.stats import CopyRowCounter

    sql = (b"SET x = 1;\nCOPY public.t (a, b) FROM stdin;\n1\tx\n2\ty\n\\.\n\n"
           b'COPY public."Mixed ""Q"" Case" ("Id") FROM stdin;\n\\.\n'
           b"COPY sales.orders  FROM stdin;\nCOPY not a header\n\\.x\n3\n\\.\nSELECT 1;\n"
           b"COPY public.u (a) FROM stdin;\nplain text with no backslash at all\n\\N\nends in an escaped \\\\.\n"
           b"more plain text\n\\.\n")
    expected = {"public.t": 2, 'public."Mixed ""Q"" Case"': 0, "sales.orders": 3, "public.u": 4}
    for size in (1, 2, 3, 4, 7, 64, len(sql)):
        counter = CopyRowCounter()
        for start in range(0, len(sql), size):
            counter.feed(sql[start:start + size])
        assert counter.counts == expected, size


def test_no_sql_counts_rows_in_the_snapshot(pg_cluster, seeded_db, make_settings):
    settings = make_settings(pg_cluster.overrides(seeded_db))
    result = execute(settings, BackupRequest("postgres", seeded_db, options={"no_sql": True}))
    assert result.ok, result.message
    assert [info.name.rsplit("_", 1)[1].split(".", 1)[1] for info in result.files] == ["dump.zst", "json"]
    document = json.loads(result.metadata_path.read_text())
    assert document["table_row_counts"] == table_counts(pg_cluster, seeded_db)
    assert document["files"]["dump_sql"] is None and document["consistency"].startswith("custom dump only")


def test_the_target_picker_offers_the_configured_databases_first(pg_cluster, make_settings):
    """The Backup screen's target list: the databases named in the config first (in their order), then
    every other one the server has; without the server, the configured ones alone."""
    names = [f"t_{uuid.uuid4().hex[:8]}_{suffix}" for suffix in ("a", "z")]
    for name in names:
        pg_cluster.create_database(name)
    try:
        settings = make_settings({**pg_cluster.overrides(), "postgres.databases": [names[1], names[0]]})
        offered = targets(settings)
        assert offered[:2] == [names[1], names[0]] and "postgres" in offered[2:]
        assert len(offered) == len(set(offered))
        down = make_settings({**pg_cluster.overrides(), "postgres.port": 1, "postgres.databases": [names[1]]})
        assert targets(down) == [names[1]]
    finally:
        for name in names:
            drop_database(pg_cluster, name)


def test_the_dump_bar_expects_the_bytes_of_the_tables_not_of_the_whole_database(pg_cluster, seeded_db, make_settings):
    """pg_dump writes rows, not indexes: a total of pg_database_size left the bar far short of 100 % at the end
    (56-75 % measured on bench databases), and the ETA shown at 25 % 35 % too long."""
    events: list[ProgressEvent] = []
    result = execute(make_settings(pg_cluster.overrides(seeded_db)), BackupRequest("postgres", seeded_db),
                     on_progress=events.append)
    assert result.ok, result.message
    dump = [event for event in events if event.phase == "dump" and event.total]
    with pg_cluster.connect(seeded_db) as conn:
        database_size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    assert dump[0].total < database_size
    assert dump[-1].finished and dump[-1].done == result.extra["dump_bytes"]
    assert 0.5 <= dump[-1].done / dump[0].total <= 1.5
