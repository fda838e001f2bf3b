"""Restores refuse what is not a backup before touching the target, pre-flight the dump's roles,
and drop a database they created when the restore fails."""

from __future__ import annotations

import gzip
import json
import os
import uuid
from pathlib import Path

import pytest
import zstandard

from tests.faults.conftest import Console, count_fault, sets_of
from tests.servers import PgCluster


def _database_exists(cluster: PgCluster, name: str) -> bool:
    with cluster.connect() as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def _runs(backup_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (backup_dir / ".runs" / "runs.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(("name", "content", "expected"), [
    pytest.param("backup_app_20250101_020000.dump.zst", lambda: zstandard.ZstdCompressor().compress(os.urandom(4096)),
                 "not a PostgreSQL custom-format dump", id="zstd-of-random"),
    pytest.param("backup_app_20250101_020000.dump.zst", lambda: os.urandom(4096), "stream is damaged",
                 id="random-named-zst"),
    pytest.param("backup_app_20250101_020000.dump", lambda: os.urandom(4096), "not a PostgreSQL custom-format dump",
                 id="random-named-dump"),
])
def test_a_file_that_is_not_a_dump_touches_no_database(console_pg: Console, pg_cluster: PgCluster,
                                                       backup_dir: Path, name: str, content, expected: str) -> None:
    (backup_dir / "postgres").mkdir(parents=True)
    dump = backup_dir / "postgres" / name
    dump.write_bytes(content())
    target = f"never_{uuid.uuid4().hex[:8]}"
    count_fault()
    done = console_pg.run("restore", "postgres", str(dump), "--target-db", target, "--create")
    assert done.code == 1, done.err
    assert expected in done.err and "internal error" not in done.err and "Traceback" not in done.err
    assert not _database_exists(pg_cluster, target)
    assert _runs(backup_dir)[-1]["status"] == "failed"


def test_a_restore_failing_half_way_drops_the_database_it_created(estate_console: Console, pg_cluster: PgCluster,
                                                                  backup_dir: Path) -> None:
    dump = next(p for p in sets_of(backup_dir, "postgres") if p.name.endswith(".dump.zst"))
    next(p for p in sets_of(backup_dir, "postgres") if p.name.endswith(".json")).unlink()  # no checksum to stop it
    data = zstandard.ZstdDecompressor().decompressobj().decompress(dump.read_bytes())
    dump.write_bytes(zstandard.ZstdCompressor().compress(data[: len(data) * 2 // 3]))  # TOC fine, data cut
    target = f"half_{uuid.uuid4().hex[:8]}"
    count_fault()
    done = estate_console.run("restore", "postgres", str(dump), "--target-db", target, "--create")
    assert done.code == 1, done.err
    assert "Traceback" not in done.err
    assert not _database_exists(pg_cluster, target)


def test_missing_roles_are_named_before_anything_is_created(console_pg: Console, pg_cluster: PgCluster,
                                                            backup_dir: Path) -> None:
    role, source = f"owner_{uuid.uuid4().hex[:6]}", f"roles_{uuid.uuid4().hex[:6]}"
    with pg_cluster.connect() as conn:
        conn.execute(f"CREATE ROLE {role}")
        conn.execute(f'CREATE DATABASE "{source}"')
    with pg_cluster.connect(source) as conn:
        conn.execute(f"CREATE SCHEMA audit AUTHORIZATION {role}")
        conn.execute("CREATE TABLE audit.events (id int)")
        conn.execute(f"ALTER TABLE audit.events OWNER TO {role}")
        conn.execute("INSERT INTO audit.events SELECT generate_series(1, 10)")
    backed_up = console_pg.run("backup", "postgres", "--db", source, "--json")
    assert backed_up.code == 0, backed_up.err
    set_id = json.loads(backed_up.out)["set_id"]
    with pg_cluster.connect() as conn:
        conn.execute(f'DROP DATABASE "{source}" WITH (FORCE)')
        conn.execute(f"DROP ROLE {role}")
    target = f"noroles_{uuid.uuid4().hex[:6]}"
    count_fault()
    refused = console_pg.run("restore", "postgres", set_id, "--target-db", target, "--create")
    assert refused.code == 2, refused.err
    assert role in refused.err and "--no-owner" in refused.err
    assert not _database_exists(pg_cluster, target)
    try:
        restored = console_pg.run("restore", "postgres", set_id, "--target-db", target, "--create", "--no-owner")
        assert restored.code == 0, restored.err
        with pg_cluster.connect(target) as conn:
            assert conn.execute("SELECT count(*) FROM audit.events").fetchone()[0] == 10
    finally:
        with pg_cluster.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')


def test_a_role_map_gives_the_dump_roles_objects_and_privileges_to_the_new_roles(
        console_pg: Console, pg_cluster: PgCluster) -> None:
    suffix = uuid.uuid4().hex[:6]
    old, reader, new, source = f"old_{suffix}", f"reader {suffix}", f"new_{suffix}", f"mapped_{suffix}"
    with pg_cluster.connect() as conn:
        conn.execute(f'CREATE ROLE {old}')
        conn.execute(f'CREATE ROLE "{reader}"')
        conn.execute(f'CREATE DATABASE "{source}"')
    with pg_cluster.connect(source) as conn:
        for statement in (
                f"CREATE SCHEMA audit AUTHORIZATION {old}",
                "CREATE TABLE audit.events (id serial PRIMARY KEY, note text)",
                "INSERT INTO audit.events (note) SELECT 'n' || g FROM generate_series(1, 10) g",
                "CREATE VIEW audit.recent AS SELECT * FROM audit.events",
                "CREATE FUNCTION audit.touch(n integer) RETURNS integer LANGUAGE sql AS 'SELECT n'",
                "SELECT lo_create(424242)",
                f"GRANT USAGE ON SCHEMA audit TO \"{reader}\"",
                f"GRANT SELECT ON audit.events TO \"{reader}\"",
                f"GRANT UPDATE ON audit.events TO {old} WITH GRANT OPTION",
                f"ALTER DEFAULT PRIVILEGES FOR ROLE {old} IN SCHEMA audit GRANT SELECT ON TABLES TO \"{reader}\""):
            conn.execute(statement)
        for obj in ("TABLE audit.events", "TABLE audit.events_id_seq", "VIEW audit.recent",
                    "FUNCTION audit.touch(integer)", "LARGE OBJECT 424242"):
            conn.execute(f"ALTER {obj} OWNER TO {old}")
    backed_up = console_pg.run("backup", "postgres", "--db", source, "--json")
    assert backed_up.code == 0, backed_up.err
    set_id = json.loads(backed_up.out)["set_id"]
    with pg_cluster.connect() as conn:  # a drill server: the dump's owner is gone, its successor exists
        conn.execute(f'DROP DATABASE "{source}" WITH (FORCE)')
        conn.execute(f"DROP ROLE {old}")
    target = f"mapped_into_{suffix}"
    count_fault()
    try:
        typo = console_pg.run("restore", "postgres", set_id, "--target-db", target, "--create",
                              "--role-map", f"{old}x={new}")
        assert typo.code == 2 and f"{old}x" in typo.err and old in typo.err, typo.err
        unknown_new = console_pg.run("restore", "postgres", set_id, "--target-db", target, "--create",
                                     "--role-map", f"{old}={new}")
        assert unknown_new.code == 2 and new in unknown_new.err and "missing" in unknown_new.err, unknown_new.err
        assert not _database_exists(pg_cluster, target)
        with pg_cluster.connect() as conn:
            conn.execute(f"CREATE ROLE {new}")
        restored = console_pg.run("restore", "postgres", set_id, "--target-db", target, "--create",
                                  "--role-map", f"{old}={new}", "--json")
        assert restored.code == 0, restored.err
        assert json.loads(restored.out)["ok"] is True
        with pg_cluster.connect(target) as conn:
            owners = conn.execute(
                "SELECT (SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'audit'),"
                "       (SELECT relowner::regrole::text FROM pg_class WHERE oid = 'audit.events'::regclass),"
                "       (SELECT relowner::regrole::text FROM pg_class WHERE oid = 'audit.events_id_seq'::regclass),"
                "       (SELECT relowner::regrole::text FROM pg_class WHERE oid = 'audit.recent'::regclass),"
                "       (SELECT proowner::regrole::text FROM pg_proc WHERE proname = 'touch'),"
                "       (SELECT lomowner::regrole::text FROM pg_largeobject_metadata WHERE oid = 424242)").fetchone()
            assert set(owners) == {new}, owners
            assert conn.execute("SELECT count(*) FROM audit.events").fetchone()[0] == 10
            assert conn.execute("SELECT has_table_privilege(%s, 'audit.events', 'SELECT'),"
                                "       has_schema_privilege(%s, 'audit', 'USAGE')", (reader, reader)).fetchone() == (
                True, True)
            default_acl = conn.execute("SELECT defaclrole::regrole::text, defaclacl::text FROM pg_default_acl"
                                       ).fetchone()
            assert default_acl[0] == new and reader in default_acl[1]
    finally:
        with pg_cluster.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
            for role in (new, reader):
                conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_a_definitions_file_that_is_not_an_export_is_never_sent(estate_console: Console, backup_dir: Path) -> None:
    definitions = next(p for p in sets_of(backup_dir, "rabbitmq") if p.name.startswith("definitions_"))
    fake = definitions.with_name(definitions.name.replace(".json.gz.enc", ".json.gz"))
    definitions.unlink()
    fake.write_bytes(gzip.compress(b'{"not": "defs"}'))
    next(p for p in sets_of(backup_dir, "rabbitmq") if p.name.startswith("backup_")).unlink()
    count_fault()
    done = estate_console.run("restore", "rabbitmq", str(fake), "--yes")
    assert done.code == 1, done.err
    assert "not a RabbitMQ definitions export" in done.err and "imported" not in done.out
