"""The catalog reads the manual's layout as its scripts really leave it, and ours."""

from __future__ import annotations

import datetime as dt

from console.catalog import read_metadata, scan

from console.layout import parse_stamp


def touch(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_legacy_postgres_run_with_drifting_timestamps_is_one_set(backup_dir):
    # Each step of the manual calls `date` again: the dump, SQL and metadata differ by seconds.
    touch(backup_dir / "postgres" / "backup_app_db_20241101_020000.dump")
    touch(backup_dir / "postgres" / "backup_app_db_20241101_020047.sql.gz")
    touch(backup_dir / "postgres" / "backup_app_db_20241101_020049.json", b'{"backup_type": "full_daily", "compression_ratio": .50}')
    touch(backup_dir / "postgres" / "backup_app_db_20241102_020000.dump")
    catalog = scan(backup_dir)
    sets = catalog.by_kind("postgres")
    assert [s.set_id for s in sets] == ["postgres/app_db/20241101_020000", "postgres/app_db/20241102_020000"]
    assert sets[0].roles() == {"dump", "sql", "metadata"}
    metadata = read_metadata(sets[0])
    assert metadata.document is None and "not valid JSON" in metadata.error
    assert catalog.latest("postgres").stamp == "20241102_020000"


def test_two_quick_runs_are_not_merged(backup_dir):
    touch(backup_dir / "postgres" / "backup_db_20241101_020000.dump")
    touch(backup_dir / "postgres" / "backup_db_20241101_020000.json")
    touch(backup_dir / "postgres" / "backup_db_20241101_020100.dump")
    touch(backup_dir / "postgres" / "backup_db_20241101_020100.json")
    assert len(scan(backup_dir).by_kind("postgres")) == 2


def test_databases_are_separate_targets(backup_dir):
    touch(backup_dir / "postgres" / "backup_a_20241101_020000.dump")
    touch(backup_dir / "postgres" / "backup_b_20241101_020000.dump")
    latest = scan(backup_dir).latest_per_target()
    assert [(s.kind, s.name) for s in latest] == [("postgres", "a"), ("postgres", "b")]


def test_manual_archive_joins_its_set(backup_dir):
    touch(backup_dir / "postgres" / "backup_db_20241101_020000.dump")
    touch(backup_dir / "postgres" / "archives" / "backup_20241101_020000.tar.gz")
    (only,) = scan(backup_dir).by_kind("postgres")
    assert only.roles() == {"dump", "archive"}


def test_redis_rabbitmq_config_certs_names(backup_dir):
    touch(backup_dir / "redis" / "snapshot_20241101_020000.rdb.gz")
    touch(backup_dir / "redis" / "snapshot_20241101_020000.json", b"NOAUTH Authentication required.")
    for name in ("definitions", "queues", "exchanges", "policies", "users"):
        ext = "json" if name == "definitions" else "txt"
        touch(backup_dir / "rabbitmq" / f"{name}_20241101_020000.{ext}.gz")
    touch(backup_dir / "rabbitmq" / "backup_20241101_020001.json.gz")  # defect 14: metadata gzipped too
    touch(backup_dir / "config" / "config_20241101_020000.tar.gz")
    touch(backup_dir / "config" / "manifest_20241101_020002.json", b"{}")
    touch(backup_dir / "config" / ".env.enc")  # defect 17: no timestamp
    touch(backup_dir / "certs" / "certificates_20241101_020000.tar.gz.enc")
    touch(backup_dir / "certs" / "cert_inventory_20241101_020000.json", b"[]")
    touch(backup_dir / "certs" / "server.key")  # defect 21: plaintext copy, not a set
    catalog = scan(backup_dir)
    assert {s.kind for s in catalog.sets} == {"redis", "rabbitmq", "config", "certs"}
    (rabbit,) = catalog.by_kind("rabbitmq")
    assert rabbit.roles() == {"definitions", "queues", "exchanges", "policies", "users", "metadata"}
    (config,) = catalog.by_kind("config")
    assert "legacy:.env.enc" in config.roles()
    assert backup_dir / "certs" / "server.key" in catalog.unrecognised
    assert all(s.is_backup for s in catalog.sets)


def test_partial_files_are_neither_sets_nor_unrecognised(backup_dir):
    touch(backup_dir / "postgres" / "backup_db_20241101_020000.dump.partial")
    catalog = scan(backup_dir)
    assert catalog.sets == [] and catalog.unrecognised == []


def test_age_uses_local_time_of_the_stamp():
    stamp = parse_stamp("20241101_020000")
    later = stamp + dt.timedelta(hours=3)
    from console.catalog import BackupSet

    assert BackupSet("redis", "", stamp, ()).age_seconds(later) == 3 * 3600


def _settle(*directories):
    """Date the directories back a minute, as if nothing had changed there for a while."""
    import os
    import time

    for directory in directories:
        past = time.time() - 60
        os.utime(directory, (past, past))


def test_a_settled_directory_is_served_from_the_cache_until_a_name_changes(backup_dir):
    postgres = backup_dir / "postgres"
    touch(postgres / "backup_db_20241101_020000.dump")
    touch(postgres / "archives" / "backup_20241101_020000.tar.gz")
    _settle(postgres, postgres / "archives")
    first = scan(backup_dir)
    again = scan(backup_dir)
    assert [(s.set_id, s.roles()) for s in again.sets] == [(s.set_id, s.roles()) for s in first.sets]
    assert again.sets is not first.sets  # callers may change their list without touching the cache
    touch(postgres / "backup_db_20241102_020000.dump")  # a new name: the directory's mtime moves
    assert [s.stamp for s in scan(backup_dir).sets] == ["20241101_020000", "20241102_020000"]
    _settle(postgres, postgres / "archives")
    scan(backup_dir)
    (postgres / "archives" / "backup_20241101_020000.tar.gz").unlink()  # in a subdirectory too
    assert scan(backup_dir).sets[0].roles() == {"dump"}
    (postgres / "backup_db_20241102_020000.dump").rename(postgres / "backup_db_20241103_020000.dump")
    assert [s.stamp for s in scan(backup_dir).sets] == ["20241101_020000", "20241103_020000"]


def test_fast_stamp_parser_agrees_with_strptime_and_refuses_the_same_names():
    import pytest

    for stamp in ("20241101_020000", "20240229_235959", "19991231_000001"):
        assert parse_stamp(stamp) == dt.datetime.strptime(stamp, "%Y%m%d_%H%M%S").astimezone()
    for bad in ("20241301_020000", "20241132_020000", "20241101_250000", "20241101-020000", "2024110_0200000",
                "20241101_02000", "２０２４1101_020000"):
        with pytest.raises(ValueError):
            parse_stamp(bad)
