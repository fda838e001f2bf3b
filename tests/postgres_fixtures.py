"""PostgreSQL backup fixtures: a seeded database with varied data, and helpers the tests share.

The seed (a few MB) has several tables in two schemas, jsonb, bytea (partly random, so it
does not compress away), a large object, an index, a view, a sequence, a quoted mixed-case
table name and an empty table. It is built once per session as a template; each test gets a
copy (CREATE DATABASE ... TEMPLATE), which is much faster than seeding again.
"""

from __future__ import annotations

import os
import subprocess
import threading
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.servers import PgCluster

SEED_SQL = [
    "CREATE SCHEMA sales",
    "CREATE SEQUENCE invoice_no START 1000",
    "CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text, profile jsonb, "
    "created timestamptz DEFAULT now())",
    "INSERT INTO customers (name, email, profile) SELECT 'customer ' || g, 'c' || g || '@example.com', "
    "jsonb_build_object('tier', g % 3, 'tags', jsonb_build_array('x', g % 5), 'note', md5(g::text)) "
    "FROM generate_series(1, 6000) g",
    "CREATE INDEX customers_email ON customers (email)",
    "CREATE TABLE sales.orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers, "
    "amount numeric(10,2), invoice int DEFAULT nextval('invoice_no'), note text)",
    "INSERT INTO sales.orders (customer_id, amount, note) SELECT 1 + g % 6000, (g % 997) / 3.0, "
    "repeat(md5(g::text), 3) FROM generate_series(1, 20000) g",
    "CREATE TABLE blobs (id int PRIMARY KEY, data bytea)",
    "INSERT INTO blobs SELECT g, decode(string_agg(md5(g::text || ':' || i::text || random()::text), ''), 'hex') "
    "FROM generate_series(1, 300) g, generate_series(1, 64) i GROUP BY g",
    'CREATE TABLE "Mixed Case" ("Id" int, "Value" text)',
    """INSERT INTO "Mixed Case" SELECT g, E'line one\\nline two\\ttab ' || g FROM generate_series(1, 500) g""",
    "CREATE TABLE empty_table (id int)",
    "CREATE VIEW big_spenders AS SELECT customer_id, sum(amount) AS total FROM sales.orders GROUP BY customer_id",
    "SELECT lo_from_bytea(0, convert_to(repeat('large object data ', 2000), 'UTF8'))",
    "SELECT setval('invoice_no', 424242)",
]

EXPECTED_TABLES = {'public."Mixed Case"', "public.blobs", "public.customers", "public.empty_table", "sales.orders"}


@pytest.fixture(scope="session")
def pg_seed_template(pg_cluster: PgCluster) -> str:
    name = f"seed_{uuid.uuid4().hex[:8]}"
    pg_cluster.create_database(name)
    with pg_cluster.connect(name) as conn:
        for statement in SEED_SQL:
            conn.execute(statement)
        conn.execute("VACUUM ANALYZE")
    with pg_cluster.connect() as conn:
        # no connections (not even autovacuum's) may be open while it is copied
        conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
    return name


@pytest.fixture
def seeded_db(pg_cluster: PgCluster, pg_seed_template: str) -> Iterator[str]:
    """A fresh copy of the seeded database; dropped afterwards."""
    import time

    import psycopg

    name = f"t_{uuid.uuid4().hex[:10]}"
    for attempt in range(20):
        try:
            with pg_cluster.connect() as conn:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_seed_template}"')
            break
        except psycopg.errors.ObjectInUse:  # the template is briefly busy
            time.sleep(0.25)
    else:
        raise AssertionError(f"template {pg_seed_template} stayed busy")
    yield name
    drop_database(pg_cluster, name)


def drop_database(cluster: PgCluster, name: str) -> None:
    with cluster.connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def table_counts(cluster: PgCluster, dbname: str) -> dict[str, int]:
    """Exact counts computed independently of the code under test."""
    with cluster.connect(dbname) as conn:
        names = [row[0] for row in conn.execute(
            "SELECT format('%I.%I', schemaname, relname) FROM pg_stat_user_tables ORDER BY 1").fetchall()]
        return {name: conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in names}


def schema_text(cluster: PgCluster, dbname: str) -> str:
    """pg_dump --schema-only without the lines that differ on every run."""
    from console.kinds.postgres.client import find_tool

    out = subprocess.run([find_tool("pg_dump").path, "-s", "-h", cluster.host, "-p", str(cluster.port), "-U",
                          cluster.user, dbname], capture_output=True, check=True, text=True).stdout
    return "\n".join(line for line in out.splitlines() if not line.startswith(("\\restrict", "\\unrestrict")))


class TableLock:
    """Holds ACCESS EXCLUSIVE on a table so pg_dump waits: a dump that stays running on demand."""

    def __init__(self, cluster: PgCluster, dbname: str, table: str = "customers") -> None:
        self.conn = cluster.connect(dbname, autocommit=False)
        self.conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")

    def release(self) -> None:
        if not self.conn.closed:
            self.conn.rollback()
            self.conn.close()


def processes_named(name: str, containing: str = "", parent: int | None = None) -> list[tuple[int, list[str], dict[str, str]]]:
    """Running processes whose argv[0] ends with ``name`` (whose argv has ``containing``, child of ``parent``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = [part.decode(errors="replace") for part in (entry / "cmdline").read_bytes().split(b"\0") if part]
            if not argv or not argv[0].endswith(name) or containing not in " ".join(argv):
                continue
            if parent is not None and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) != parent:
                continue
            env_raw = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        env = dict(item.decode(errors="replace").split("=", 1) for item in env_raw if b"=" in item)
        found.append((int(entry.name), argv, env))
    return found


def run_in_thread(target: Any, *args: Any, **kwargs: Any) -> tuple[threading.Thread, dict[str, Any]]:
    """Start ``target`` in a thread; the dict receives "result" or "error"."""
    box: dict[str, Any] = {}

    def body() -> None:
        try:
            box["result"] = target(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            box["error"] = exc

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread, box


def wait_until(predicate: Any, timeout: float = 20.0, interval: float = 0.05) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def password_cluster_role(cluster: PgCluster, user: str, password: str) -> None:
    """A role that must authenticate with a password (scram) over TCP."""
    with cluster.connect() as conn:
        conn.execute(f"CREATE ROLE {user} LOGIN SUPERUSER PASSWORD '{password}'")
    hba = cluster.data / "pg_hba.conf"
    hba.write_text(f"host all {user} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
    with cluster.connect() as conn:
        conn.execute("SELECT pg_reload_conf()")


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
