"""verify against real backups: ours from the real backup modules, the manual's from its real tools;
damage them (flipped bytes, truncation, deleted metadata) and see each named; --deep restores."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from console.catalog import read_metadata, scan
from console.verify.run import verify, verify_set
from tests.servers import require_binary
from tests.verify_fixtures import (fill_database, flip_byte, legacy_postgres, legacy_rabbitmq, legacy_redis,
                                   gunzip_bytes, our_backup, truncate)

KEY = "correct horse battery staple"


def failures(result: Any) -> list[tuple[str | None, str]]:
    return [(o.file, o.check) for o in result.checks if o.status == "failed"]


@pytest.fixture
def cert_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "certs-src"
    directory.mkdir()
    subprocess.run([require_binary("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(directory / "site.key"), "-out", str(directory / "site.crt"), "-days", "90",
                    "-subj", "/CN=verify.test"], check=True, capture_output=True)
    return directory


@pytest.fixture
def config_source(tmp_path: Path) -> Path:
    source = tmp_path / "app"
    source.mkdir()
    (source / "docker-compose.yml").write_text("services: {}\n")
    (source / "nginx.conf").write_text("events {}\n" * 200)
    (source / ".env").write_text("DB_PASSWORD=s3cret\n")
    return source


@pytest.fixture(scope="module")
def our_sets_template(pg_cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One set of each kind written by our backup modules, made once per module (about 1.8 s):
    each test damages its own copy (``our_sets``)."""
    import uuid

    from console.config import load_settings
    from tests.servers import RedisServer

    base = tmp_path_factory.mktemp("our-sets")
    database = pg_cluster.create_database(f"t_{uuid.uuid4().hex[:10]}")
    redis = RedisServer().start()
    try:
        fill_database(pg_cluster, database)
        redis.client().mset({f"k{n}": "v" * n for n in range(100)})
        certs = base / "certs-src"
        certs.mkdir()
        subprocess.run([require_binary("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(certs / "site.key"), "-out",
                        str(certs / "site.crt"), "-days", "90", "-subj", "/CN=verify.test"], check=True, capture_output=True)
        source = base / "app"
        source.mkdir()
        (source / "docker-compose.yml").write_text("services: {}\n")
        (source / "nginx.conf").write_text("events {}\n" * 200)
        (source / ".env").write_text("DB_PASSWORD=s3cret\n")
        overrides = {**pg_cluster.overrides(database), **redis.overrides(), "encryption.key": KEY,
                     "certs.cert_dir": str(certs), "config_backup.source_dir": str(source), "timeout_seconds": 2.0}
        template = base / "backups"
        settings = load_settings(None, env={}, overrides={**overrides, "backup_dir": str(template)})
        set_ids = {kind: our_backup(settings, kind, database if kind == "postgres" else None).set_id
                   for kind in ("postgres", "redis", "config", "certs")}
        yield template, overrides, set_ids
    finally:
        redis.destroy()
        with pg_cluster.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture
def our_sets(our_sets_template: Any, make_settings: Any, backup_dir: Path) -> tuple[Any, dict[str, Any]]:
    """A copy of the module's sets in this test's BACKUP_DIR, and settings pointing at it."""
    import shutil

    template, overrides, set_ids = our_sets_template
    shutil.copytree(template, backup_dir, symlinks=True)
    settings = make_settings(overrides)
    sets = {kind: scan(settings.backup_dir, [kind]).find(set_id) for kind, set_id in set_ids.items()}
    assert None not in sets.values(), sets
    return settings, sets


def test_our_sets_verify_and_record_the_result(our_sets: tuple[Any, dict[str, Any]]) -> None:
    settings, sets = our_sets
    report = verify(settings)
    assert report.ok, [(s.set_id, failures(s)) for s in report.sets]
    by_id = {item.set_id: item for item in report.sets}
    for kind, backup_set in sets.items():
        result = by_id[backup_set.set_id]
        assert result.status == "passed", (kind, [(o.check, o.status, o.message) for o in result.checks])
        assert result.metadata_written
        document = read_metadata(backup_set).document
        assert document["verification_status"] == "passed"
        assert document["verification"]["time"] and document["verification"]["report"] == report.report_name
        assert {c["check"] for c in document["verification"]["checks"]} >= {"metadata", "sha256"}
    checks = {(item.kind, o.check) for item in report.sets for o in item.checks if o.status == "passed"}
    assert {("postgres", "pg_restore_list"), ("postgres", "sql_complete"), ("redis", "rdb"),
            ("config", "tar"), ("config", "decrypt"), ("certs", "decrypt"), ("postgres", "age")} <= checks


def test_a_flipped_byte_fails_its_set_naming_file_and_check(our_sets: tuple[Any, dict[str, Any]], rabbitmq_vhost: str,
                                                            backup_dir: Path) -> None:
    settings, sets = our_sets
    sets["rabbitmq"] = our_backup(replace(settings, rabbitmq=replace(settings.rabbitmq, vhost=rabbitmq_vhost)), "rabbitmq")
    damaged = {kind: [item for item in backup_set.files if item.role != "metadata"] for kind, backup_set in sets.items()}
    assert {item.role for items in damaged.values() for item in items} >= {
        "dump", "sql", "rdb", "aof", "tarball", "archive", "definitions"}
    for items in damaged.values():
        for item in items:
            flip_byte(item.path)
    report = verify(settings)
    assert not report.ok
    by_id = {item.set_id: item for item in report.sets}
    for kind, items in damaged.items():
        result = by_id[sets[kind].set_id]
        assert result.status == "failed", kind
        for item in items:
            assert (item.path.name, "sha256") in failures(result), (kind, item.role, failures(result))
        assert read_metadata(sets[kind]).document["verification_status"] == "failed"
    certs = by_id[sets["certs"].set_id]
    assert (sets["certs"].file("archive").path.name, "decrypt") in failures(certs)  # authenticated encryption
    config = by_id[sets["config"].set_id]
    enc = next(item for item in sets["config"].files if item.path.name.endswith(".enc"))
    assert (enc.path.name, "decrypt") in failures(config)


def test_a_damaged_rdb_inside_intact_gzip_fails_its_checksum(our_sets: tuple[Any, dict[str, Any]]) -> None:
    import gzip

    settings, sets = our_sets
    rdb = sets["redis"].file("rdb").path
    content = bytearray(gzip.decompress(rdb.read_bytes()))
    content[len(content) // 2] ^= 0x01  # the gzip stream stays valid: only the RDB's own CRC64 can tell
    rdb.write_bytes(gzip.compress(bytes(content)))
    result = verify_set(settings, sets["redis"])
    rdb_check = next(o for o in result.checks if o.check == "rdb")
    assert rdb_check.status == "failed" and "checksum mismatch" in rdb_check.message


def test_truncated_file_and_deleted_metadata(our_sets: tuple[Any, dict[str, Any]]) -> None:
    settings, sets = our_sets
    sql = sets["postgres"].file("sql").path
    truncate(sql)
    sets["redis"].metadata_path.unlink()
    enc = next(item for item in sets["config"].files if item.path.name.endswith(".enc"))
    enc.path.unlink()
    truncate(sets["certs"].metadata_path, 0.7)
    report = verify(settings)
    by_id = {item.set_id: item for item in report.sets}
    assert (enc.path.name, "exists") in failures(by_id[sets["config"].set_id])
    certs = by_id[sets["certs"].set_id]
    assert (sets["certs"].metadata_path.name, "metadata") in failures(certs)
    assert "backup-console wrote" in next(o.message for o in certs.checks if o.check == "metadata")
    postgres = by_id[sets["postgres"].set_id]
    assert (sql.name, "sha256") in failures(postgres)
    assert any(check in ("gzip", "zstd") and "truncated" in o.message
               for o in postgres.checks for check in [o.check] if o.file == sql.name and o.status == "failed")
    redis = by_id[sets["redis"].set_id]
    assert redis.status == "failed"
    assert any(o.check == "metadata" and "metadata file missing" in o.message for o in redis.checks)


def test_manual_legacy_sets_verify(pg_cluster: Any, pg_database: str, redis_server: Any, make_settings: Any,
                                   backup_dir: Path) -> None:
    fill_database(pg_cluster, pg_database)
    redis_server.client().mset({"a": "1", "b": "2"})
    postgres = legacy_postgres(backup_dir, pg_cluster, pg_database)
    redis = legacy_redis(backup_dir, redis_server)
    assert {f.role for f in postgres.files} == {"dump", "sql", "metadata"}  # three stamps, one set
    before = {path: path.read_bytes() for path in (postgres.metadata_path, redis.metadata_path)}
    settings = make_settings(pg_cluster.overrides(pg_database))

    report = verify(settings)

    assert report.ok, [(s.set_id, failures(s)) for s in report.sets]
    by_id = {item.set_id: item for item in report.sets}
    pg_checks = {o.check: o for o in by_id[postgres.set_id].checks}
    assert pg_checks["pg_restore_list"].status == "passed" and pg_checks["sql_complete"].status == "passed"
    assert pg_checks["metadata"].status == "warning" and "defect 4" in pg_checks["metadata"].message
    redis_checks = {o.check: o for o in by_id[redis.set_id].checks}
    assert redis_checks["rdb"].status == "passed" and "CRC64 ok" in redis_checks["rdb"].message
    assert redis_checks["metadata"].status == "warning" and "defect 8" in redis_checks["metadata"].message
    assert all(path.read_bytes() == data for path, data in before.items())  # invalid JSON is left alone


def test_manual_legacy_rabbitmq_set_verifies(rabbitmq_vhost: str, make_settings: Any, backup_dir: Path) -> None:
    legacy = legacy_rabbitmq(backup_dir, rabbitmq_vhost)
    result = verify_set(make_settings(), legacy)
    assert result.status == "passed", [(o.check, o.status, o.message) for o in result.checks]
    definitions = next(o for o in result.checks if o.check == "definitions")
    assert "full export" in definitions.message
    assert legacy.metadata_path.name.endswith(".json.gz") and not result.metadata_written


def test_damaged_legacy_files_are_caught_without_checksums(pg_cluster: Any, pg_database: str, redis_server: Any,
                                                           make_settings: Any, backup_dir: Path) -> None:
    fill_database(pg_cluster, pg_database)
    redis_server.client().set("a", "1")
    postgres = legacy_postgres(backup_dir, pg_cluster, pg_database)
    redis = legacy_redis(backup_dir, redis_server)
    truncate(postgres.file("sql").path, 0.5)
    rdb = redis.file("rdb").path
    inner = rdb.with_suffix("")  # snapshot_<ts>.rdb, recompressed below with the real gzip -9 as the script does
    content = bytearray(gunzip_bytes(rdb))
    content[len(content) // 2] ^= 0x01
    rdb.unlink()
    inner.write_bytes(bytes(content))
    subprocess.run([require_binary("gzip"), "-9", str(inner)], check=True)
    report = verify(make_settings(pg_cluster.overrides(pg_database)))
    by_id = {item.set_id: item for item in report.sets}
    assert (postgres.file("sql").path.name, "gzip") in failures(by_id[postgres.set_id])
    assert by_id[redis.set_id].status == "failed"
    assert failures(by_id[redis.set_id])[0][0] == redis.file("rdb").path.name


def test_deep_restores_a_real_backup_and_catches_tampering(our_sets: tuple[Any, dict[str, Any]], pg_cluster: Any,
                                                           backup_dir: Path) -> None:
    settings, sets = our_sets
    result = verify_set(settings, sets["postgres"], deep=True)
    assert result.status == "passed", [(o.check, o.status, o.message) for o in result.checks]
    restore = next(o for o in result.checks if o.check == "deep_restore")
    assert "match the metadata" in restore.message
    redis = verify_set(settings, sets["redis"], deep=True)
    load = next(o for o in redis.checks if o.check == "deep_load")
    assert load.status == "passed" and "100 key(s), as recorded" in load.message

    metadata = sets["postgres"].metadata_path
    document = json.loads(metadata.read_text())
    table = sorted(document["table_row_counts"])[0]
    document["table_row_counts"][table] += 1
    metadata.write_text(json.dumps(document))
    tampered = verify_set(settings, sets["postgres"], deep=True)
    assert ("deep_restore" in {check for _, check in failures(tampered)})
    with pg_cluster.connect() as conn:
        left = conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'bc_verify_%'").fetchone()[0]
    assert left == 0


def test_legacy_dump_data_that_list_cannot_see_is_read_without_deep(pg_cluster: Any, pg_database: str,
                                                                    make_settings: Any, backup_dir: Path) -> None:
    fill_database(pg_cluster, pg_database, rows=3000)
    legacy = legacy_postgres(backup_dir, pg_cluster, pg_database)
    dump = legacy.file("dump").path
    flip_byte(dump, int(dump.stat().st_size * 0.7))  # inside compressed table data, after the TOC
    settings = make_settings(pg_cluster.overrides(pg_database))
    shallow = verify_set(settings, legacy)  # no checksum recorded, so reading the data is the only defence
    assert next(o for o in shallow.checks if o.check == "pg_restore_list").status == "passed"  # defect 25
    assert shallow.status == "failed"
    assert (dump.name, "pg_restore_read") in failures(shallow)
    deep = verify_set(settings, legacy, deep=True)
    assert deep.status == "failed"
    assert (dump.name, "pg_restore_read") in failures(deep)
    with pg_cluster.connect() as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'bc_verify_%'").fetchone()[0] == 0


def test_without_a_key_an_unread_main_file_is_a_warning_not_a_pass(our_sets: tuple[Any, dict[str, Any]],
                                                                    make_settings: Any, pg_cluster: Any,
                                                                    pg_database: str) -> None:
    _, sets = our_sets
    keyless = make_settings(pg_cluster.overrides(pg_database))
    result = verify_set(keyless, sets["certs"])  # the encrypted archive is the set's only content
    decrypt = next(o for o in result.checks if o.check == "decrypt")
    assert decrypt.status == "warning" and decrypt.message.startswith("not checked: no key")
    assert result.status == "warning"


def test_old_newest_backup_warns_but_does_not_fail(redis_server: Any, make_settings: Any) -> None:
    redis_server.client().set("a", "1")
    settings = make_settings(redis_server.overrides())
    backup_set = our_backup(settings, "redis")
    result = verify_set(settings, backup_set, now=datetime.now().astimezone() + timedelta(hours=30))
    age = next(o for o in result.checks if o.check == "age")
    assert age.status == "warning" and "> 26 hours" in age.message
    assert result.status == "warning"
    assert read_metadata(scan(settings.backup_dir, ["redis"]).find(backup_set.set_id)).document[
        "verification_status"] == "warning"


def test_deep_restores_a_legacy_sql_dump_through_psql(pg_cluster: Any, pg_database: str, make_settings: Any,
                                                      backup_dir: Path) -> None:
    fill_database(pg_cluster, pg_database, rows=100)
    legacy = legacy_postgres(backup_dir, pg_cluster, pg_database)
    legacy.file("dump").path.unlink()
    sql_only = scan(backup_dir, ["postgres"]).sets[0]
    result = verify_set(make_settings(pg_cluster.overrides(pg_database)), sql_only, deep=True)
    restore = next(o for o in result.checks if o.check == "deep_restore")
    assert restore.status == "passed" and "2 table(s), 300 row(s)" in restore.message
    assert restore.file == legacy.file("sql").path.name


def test_a_dump_cut_where_one_of_its_zstd_frames_ends_is_caught_by_its_recorded_size(
        pg_cluster: Any, pg_database: str, make_settings: Any) -> None:
    """The custom dump is a series of zstd frames: cut exactly after one, the rest still decodes
    cleanly, so the stream check holds the decoded size to the ``uncompressed_bytes`` recorded."""
    import zstandard

    fill_database(pg_cluster, pg_database, rows=20_000)  # about 3 MB of dump: several 512 KiB frames
    settings = make_settings(pg_cluster.overrides(pg_database))
    dump = our_backup(settings, "postgres", pg_database).file("dump").path
    stored, ends = dump.read_bytes(), []
    rest = stored
    while rest:
        decoder = zstandard.ZstdDecompressor().decompressobj()
        decoder.decompress(rest)
        rest = decoder.unused_data
        ends.append(len(stored) - len(rest))
    assert len(ends) >= 3, ends
    dump.write_bytes(stored[:ends[1]])  # two whole frames, nothing torn

    report = verify(settings)
    checks = [o for entry in report.sets for o in entry.checks if o.file == dump.name]
    assert any(o.check == "zstd" and o.status == "failed" and "metadata records" in o.message for o in checks), checks
    assert any(o.check == "sha256" and o.status == "failed" for o in checks), checks


def test_stream_checks_on_real_gzip_and_zstd_files(tmp_path: Path) -> None:
    import os

    import zstandard

    from console.errors import VerifyFailed
    from console.integrity import stream_check

    payload = os.urandom(300_000) + b"tail marker"
    plain = tmp_path / "data.txt"
    plain.write_bytes(payload)
    subprocess.run([require_binary("gzip"), "-9", "-k", str(plain)], check=True)
    gz = tmp_path / "data.txt.gz"
    with open(gz, "ab") as handle:  # a second gzip member, as `cat a.gz b.gz` makes
        handle.write(subprocess.run([require_binary("gzip"), "-c"], input=b"second", capture_output=True, check=True).stdout)
    size, tail = stream_check(gz, tail_bytes=6)
    assert size == len(payload) + 6 and tail == b"second"
    zst = tmp_path / "data.txt.zst"
    zst.write_bytes(zstandard.ZstdCompressor(level=3).compress(payload))
    assert stream_check(zst, tail_bytes=11) == (len(payload), b"tail marker")
    for path in (gz, zst):
        truncate(path, 0.9)
        with pytest.raises(VerifyFailed, match="truncated"):
            stream_check(path)


def test_manual_config_and_certificate_sets_decrypt_with_the_key(make_settings: Any, backup_dir: Path,
                                                                  config_source: Path, cert_dir: Path) -> None:
    from tests.verify_fixtures import legacy_config_and_certs

    config, certs = legacy_config_and_certs(backup_dir, config_source, cert_dir, KEY)
    assert any(item.path.name == ".env.enc" for item in config.files)
    keyed = make_settings(**{"encryption.key": KEY})
    for backup_set in (config, certs):
        result = verify_set(keyed, backup_set)
        assert result.status == "passed", [(o.file, o.check, o.status, o.message) for o in result.checks]
        decrypt = [o for o in result.checks if o.check == "decrypt"]
        assert decrypt and all(o.status == "passed" and "no MAC" in o.message for o in decrypt)
    inventory = next(o for o in verify_set(keyed, certs).checks if o.check == "metadata")
    assert "inventory lists 1 certificate(s)" in inventory.message
    wrong = verify_set(make_settings(**{"encryption.key": "not the key"}), certs)
    assert (certs.file("archive").path.name, "decrypt") in failures(wrong)
    keyless = verify_set(make_settings(), config)
    assert {o.status for o in keyless.checks if o.check == "decrypt"} == {"skipped"}


def _bytes_read_by_this_process() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def test_each_file_is_read_once_for_its_hash_and_its_content(make_settings: Any, config_source: Path) -> None:
    import os

    (config_source / "payload.bin").write_bytes(os.urandom(8 * 1024 * 1024))  # incompressible: tarball ~8 MB
    settings = make_settings(**{"encryption.key": KEY, "config_backup.source_dir": str(config_source)})
    backup_set = our_backup(settings, "config")
    tarball = backup_set.file("tarball").path
    before = _bytes_read_by_this_process()
    result = verify_set(settings, backup_set)
    read = _bytes_read_by_this_process() - before
    assert result.status == "passed", [(o.check, o.status, o.message) for o in result.checks]
    assert tarball.stat().st_size <= read < 1.5 * tarball.stat().st_size  # not once for the hash, again for tar
    checks = [o.check for o in result.checks if o.file == tarball.name]
    assert checks.index("sha256") < checks.index("tar")  # the hash keeps its place before the content check
