"""Restores of real PostgreSQL backups: ours (.dump.zst, .dump) and the manual's legacy sets."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid

import pytest

from console.catalog import scan
from console.errors import ConfirmationRequired, ReadOnlyRefused, UsageError, VerifyFailed
from console.kinds.base import BackupRequest
from console.kinds.postgres.restore import RestoreOptions, choose_jobs, restore_postgres
from console.runner import execute
from tests.postgres_fixtures import (EXPECTED_TABLES, drop_database, pg_seed_template, schema_text, seeded_db,  # noqa: F401
                                     table_counts)


@pytest.fixture
def target_db(pg_cluster):
    name = f"r_{uuid.uuid4().hex[:10]}"
    yield name
    drop_database(pg_cluster, name)


def _backup(settings, database):
    result = execute(settings, BackupRequest("postgres", database))
    assert result.ok, result.message
    return scan(settings.backup_dir, ["postgres"]).find(result.set_id)


def _large_objects(cluster, database):
    with cluster.connect(database) as conn:
        return conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone()[0]


def test_backup_then_restore_into_new_db_counts_and_schema_equal(pg_cluster, seeded_db, target_db, make_settings):
    settings = make_settings(pg_cluster.overrides(seeded_db))
    backup_set = _backup(settings, seeded_db)
    report = restore_postgres(settings, backup_set, RestoreOptions(target_db, create=True))
    assert report.ok, report.as_json()
    assert report.checksum == "ok"
    assert report.schema_ok is True
    assert {t.table: t.actual for t in report.tables} == table_counts(pg_cluster, seeded_db)
    assert table_counts(pg_cluster, target_db) == table_counts(pg_cluster, seeded_db)
    assert schema_text(pg_cluster, target_db) == schema_text(pg_cluster, seeded_db)
    assert _large_objects(pg_cluster, target_db) == 1
    with pg_cluster.connect(target_db) as conn:
        assert conn.execute("SELECT last_value FROM invoice_no").fetchone()[0] == 424242


def test_parallel_restore_of_a_zstd_dump(pg_cluster, seeded_db, target_db, make_settings, backup_dir):
    settings = make_settings(pg_cluster.overrides(seeded_db))
    backup_set = _backup(settings, seeded_db)
    report = restore_postgres(settings, backup_set, RestoreOptions(target_db, create=True, jobs=2))
    assert report.ok, report.as_json()
    assert not list((backup_dir / ".tmp").glob("*"))  # the decompressed copy is gone


def test_non_empty_target_needs_clean_and_yes(pg_cluster, seeded_db, make_settings):
    settings = make_settings(pg_cluster.overrides(seeded_db))
    backup_set = _backup(settings, seeded_db)
    with pytest.raises(ConfirmationRequired, match="is not empty"):
        restore_postgres(settings, backup_set, RestoreOptions(seeded_db))
    with pytest.raises(ConfirmationRequired, match="--yes"):
        restore_postgres(settings, backup_set, RestoreOptions(seeded_db, clean=True))
    with pg_cluster.connect(seeded_db) as conn:
        conn.execute("DELETE FROM sales.orders WHERE id > 100")
    report = restore_postgres(settings, backup_set, RestoreOptions(seeded_db, clean=True, yes=True))
    assert report.ok, report.as_json()
    assert table_counts(pg_cluster, seeded_db)["sales.orders"] == 20000


def test_missing_target_without_create_and_read_only_are_refused(pg_cluster, seeded_db, make_settings):
    settings = make_settings(pg_cluster.overrides(seeded_db))
    backup_set = _backup(settings, seeded_db)
    with pytest.raises(UsageError, match="does not exist"):
        restore_postgres(settings, backup_set, RestoreOptions("no_such_db_here"))
    read_only = make_settings(pg_cluster.overrides(seeded_db), read_only=True)
    with pytest.raises(ReadOnlyRefused):
        restore_postgres(read_only, backup_set, RestoreOptions("no_such_db_here", create=True))


@pytest.mark.parametrize("jobs", [1, 2])  # with 2 the hash is taken while decompressing into a temporary copy
def test_damaged_dump_is_refused_before_anything_is_touched(pg_cluster, seeded_db, target_db, make_settings, jobs,
                                                            backup_dir):
    settings = make_settings(pg_cluster.overrides(seeded_db))
    backup_set = _backup(settings, seeded_db)
    dump = backup_set.file("dump").path
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0x01
    dump.write_bytes(bytes(data))
    with pytest.raises(VerifyFailed, match="sha256 mismatch"):
        restore_postgres(settings, backup_set, RestoreOptions(target_db, create=True, jobs=jobs))
    with pg_cluster.connect() as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target_db,)).fetchone() is None
    assert not list((backup_dir / ".tmp").glob("*"))  # no decompressed copy left behind


def test_legacy_set_made_by_the_manual_restores(pg_cluster, seeded_db, target_db, make_settings, backup_dir):
    """The manual's Step 3 dump (-Fc -Z9) next to its invalid Step 5 JSON (defect 4)."""
    settings = make_settings(pg_cluster.overrides(seeded_db))
    directory = backup_dir / "postgres"
    directory.mkdir(parents=True)
    dump = directory / f"backup_{seeded_db}_20250101_020000.dump"
    subprocess.run(["pg_dump", "-h", pg_cluster.host, "-p", str(pg_cluster.port), "-U", pg_cluster.user,
                    "--format=custom", "--compress=9", "--blobs", f"--file={dump}", seeded_db], check=True)
    (directory / f"backup_{seeded_db}_20250101_020003.json").write_text(
        '{"backup_type": "full_daily", "backup_time_seconds": , "compression_ratio": .50, "s3_bucket": "null"}')
    backup_set = scan(backup_dir, ["postgres"]).latest("postgres", seeded_db)
    report = restore_postgres(settings, backup_set, RestoreOptions(target_db, create=True))
    assert report.checksum == "not recorded (legacy set)"
    assert any("no sha256 recorded" in note for note in report.notes)
    assert report.ok and not report.compared  # nothing recorded to compare with: not claimed as "matches"
    assert table_counts(pg_cluster, target_db) == table_counts(pg_cluster, seeded_db)
    assert json.loads(json.dumps(report.as_json()))["compared"] is False


def test_data_offsets_are_filled_in_as_pg_dump_writes_them_to_a_file(pg_cluster, seeded_db, make_settings, tmp_path):
    import zstandard

    from console.kinds.postgres.client import find_tool
    from console.kinds.postgres.dump_offsets import fill_offsets

    settings = make_settings(pg_cluster.overrides(seeded_db))
    ours = tmp_path / "ours.dump"
    with open(_backup(settings, seeded_db).file("dump").path, "rb") as packed, open(ours, "wb") as out:
        zstandard.ZstdDecompressor().copy_stream(packed, out)
    reference = tmp_path / "reference.dump"  # pg_dump can seek back in a file: its offsets are the truth
    subprocess.run([find_tool("pg_dump").path, "-Fc", "-Z0", "-f", str(reference), "-h", pg_cluster.host,
                    "-p", str(pg_cluster.port), "-U", pg_cluster.user, seeded_db], check=True)
    before = ours.read_bytes()
    assert fill_offsets(ours) >= len(EXPECTED_TABLES)  # every table's data, the large object too
    after = ours.read_bytes()
    assert len(after) == len(before) and after != before
    assert _toc_offsets(ours) == _toc_offsets(reference)
    assert fill_offsets(ours) == 0  # nothing left to fill
    listed = subprocess.run([find_tool("pg_restore").path, "--list", str(ours)], capture_output=True, text=True,
                            check=True).stdout
    assert "TABLE DATA public customers" in listed


def _toc_offsets(path):
    from console.kinds.postgres.dump_offsets import _read_toc

    with open(path, "rb") as handle:
        entries, off_size, _ = _read_toc(handle)
        found = {}
        for dump_id, (state, where) in entries.items():
            handle.seek(where + 1)
            found[dump_id] = (state, int.from_bytes(handle.read(off_size), "little"))
    return found


@pytest.mark.parametrize("pairs", [["backup_user"], ["=new"], ["old="], ["a=b", "a=c"]])
def test_a_role_map_that_is_not_old_equals_new_is_a_usage_error(pairs) -> None:
    from console.kinds.postgres.roles import parse_role_map

    with pytest.raises(UsageError, match="--role-map"):
        parse_role_map(pairs)


def test_a_role_map_is_parsed_in_order_and_repeats_are_allowed() -> None:
    from console.kinds.postgres.roles import parse_role_map

    assert parse_role_map(["a=b", " c = d ", "a=b"]) == (("a", "b"), ("c", "d"))


def _cpus() -> int:
    return len(os.sched_getaffinity(0))


def test_jobs_asked_for_are_kept(tmp_path):
    dump = tmp_path / "shop_20261207_010000.dump.zst"
    dump.write_bytes(b"x" * 1000)
    notes: list[str] = []
    assert choose_jobs(3, dump, None, tmp_path / ".tmp", notes) == 3 and notes == []


def test_automatic_jobs_follow_the_cpus_when_the_decompressed_dump_fits(tmp_path):
    dump = tmp_path / "shop_20261207_010000.dump.zst"
    dump.write_bytes(b"x" * 1000)
    document = {"artifacts": [{"name": dump.name, "uncompressed_bytes": 5000}]}
    notes: list[str] = []
    jobs = choose_jobs(0, dump, document, tmp_path / "not-yet" / ".tmp", notes)
    assert jobs == (min(_cpus(), 4) if _cpus() >= 2 else 1)
    if jobs > 1:
        assert notes == [f"{jobs} pg_restore jobs (chosen: {_cpus()} CPUs; --jobs sets it)"]


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one CPU: one job whatever the space")
def test_automatic_jobs_fall_back_to_one_when_the_scratch_space_is_too_small(tmp_path):
    dump = tmp_path / "shop_20261207_010000.dump.zst"
    dump.write_bytes(b"x" * 1000)
    free = shutil.disk_usage(tmp_path).free
    document = {"artifacts": [{"name": dump.name, "uncompressed_bytes": free * 2}]}
    notes: list[str] = []
    assert choose_jobs(0, dump, document, tmp_path / ".tmp", notes) == 1
    assert notes and notes[0].startswith("one pg_restore job: a parallel restore decompresses the dump first")
    assert str(tmp_path) in notes[0]


def test_a_plain_custom_dump_needs_no_scratch_space(tmp_path):
    dump = tmp_path / "shop_20261207_010000.dump"
    dump.write_bytes(b"x" * 1000)
    notes: list[str] = []
    assert choose_jobs(0, dump, {"artifacts": [{"name": dump.name, "uncompressed_bytes": 10**18}]},
                       tmp_path / ".tmp", notes) == (min(_cpus(), 4) if _cpus() >= 2 else 1)
