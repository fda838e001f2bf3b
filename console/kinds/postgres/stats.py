"""What the PostgreSQL metadata says about a database, read from the dump's own snapshot.

A ``SnapshotSession`` opens a REPEATABLE READ transaction, exports its snapshot for pg_dump
and, in that same snapshot, reads the WAL position, the exact row count of every table (for
restore checks) and the large-object count. ``schema_hash`` hashes ``pg_dump -s`` output
without the lines that change from run to run (``\\restrict``/``\\unrestrict``, version comments).
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from console.errors import BackupFailed, ServiceUnreachable
from console.kinds.postgres.client import error_line
from console.probes.postgres import connect, describe_error
from console.progress import CancelToken, check_cancel

if TYPE_CHECKING:
    from console.kinds.postgres.client import Tool
    from console.config import PostgresSettings

_TABLES_SQL = """
SELECT format('%I.%I', n.nspname, c.relname), c.relkind::text
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p')
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                      AND d.objid = c.oid AND d.deptype = 'e')
 ORDER BY 1
"""
_DATA_BYTES_SQL = """
SELECT (coalesce(sum(c.relpages::bigint + coalesce(t.relpages, 0)), 0)
        + (SELECT relpages FROM pg_class WHERE oid = 'pg_catalog.pg_largeobject'::regclass))
       * current_setting('block_size')::bigint
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
 WHERE c.relkind = 'r'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                      AND d.objid = c.oid AND d.deptype = 'e')
"""
"""What pg_dump writes rows from: the tables (heap and TOAST) and the large objects, not the indexes.

From ``pg_class.relpages`` (kept by VACUUM, ANALYZE and CREATE INDEX): a catalog read takes no lock on
the tables, so a table locked by someone else cannot stall the backup here (``pg_relation_size`` would
wait for it, with no lock timeout). 0 when nothing was ever analysed: the database size is used then."""
_LSN_SQL = "SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text"
_VOLATILE_LINES = (b"\\restrict ", b"\\unrestrict ", b"-- Dumped from ", b"-- Dumped by ")


@dataclass
class DatabaseFacts:
    """What the metadata records about the database at the moment of the snapshot."""

    snapshot: str
    server_version: str
    server_version_num: int
    database_size_bytes: int
    in_recovery: bool
    lsn_start: str | None
    lsn_end: str | None = None
    table_row_counts: dict[str, int] = field(default_factory=dict)
    table_count: int = 0
    large_object_count: int = 0
    data_bytes: int | None = None
    """Bytes of the tables and large objects pg_dump reads (indexes left out): the dump's expected size."""

    @property
    def row_count(self) -> int:
        return sum(self.table_row_counts.values())


class SnapshotSession:
    """A read-only REPEATABLE READ transaction whose snapshot pg_dump imports."""

    def __init__(self, pg: PostgresSettings, dbname: str, timeout: float) -> None:
        self.pg = pg
        self.dbname = dbname
        try:
            self.conn = connect(pg, timeout, dbname=dbname, autocommit=False)
        except psycopg.Error as exc:
            raise ServiceUnreachable(f"cannot connect to database '{dbname}': {describe_error(exc, pg)[1]}") from None
        self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        self.conn.read_only = True

    def start(self) -> DatabaseFacts:
        """Export the snapshot and read what does not need the data."""
        try:
            row = self.conn.execute(
                "SELECT pg_export_snapshot(), version(), current_setting('server_version_num')::int, "
                "pg_database_size(current_database()), pg_is_in_recovery()").fetchone()
            lsn = self.conn.execute(_LSN_SQL).fetchone()
            data = self.conn.execute(_DATA_BYTES_SQL).fetchone()
        except psycopg.Error as exc:
            raise BackupFailed(f"cannot open a snapshot of '{self.dbname}': {_first_line(exc)}") from None
        assert row is not None and lsn is not None
        return DatabaseFacts(snapshot=row[0], server_version=row[1], server_version_num=row[2],
                             database_size_bytes=row[3], in_recovery=row[4], lsn_start=lsn[0],
                             data_bytes=int(data[0]) if data and data[0] is not None else None)

    def count_rows(self, facts: DatabaseFacts, cancel: CancelToken | None = None,
                   streamed: dict[str, int] | None = None) -> None:
        """Exact row counts of every table in the snapshot: the same rows pg_dump wrote.

        Counts taken from the SQL stream (``streamed``) are used as they are; any other table is
        counted with ``count(*)`` in the snapshot.
        """
        try:
            tables = self.conn.execute(_TABLES_SQL).fetchall()
            facts.table_count = len(tables)
            counts: dict[str, int] = {}
            for name, relkind in tables:
                if relkind != "r":
                    continue  # a partitioned table holds no rows itself; its partitions are counted
                check_cancel(cancel)
                if streamed is not None and name in streamed:
                    counts[name] = streamed[name]
                    continue
                counted = self.conn.execute(sql.SQL("SELECT count(*) FROM ONLY {}").format(sql.SQL(name))).fetchone()
                counts[name] = int(counted[0]) if counted else 0
            facts.table_row_counts = counts
            lo = self.conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone()
            facts.large_object_count = int(lo[0]) if lo else 0
        except psycopg.Error as exc:
            raise BackupFailed(f"cannot count rows in '{self.dbname}': {_first_line(exc)}") from None

    def finish(self, facts: DatabaseFacts) -> None:
        """Read the WAL position after the dump (outside the snapshot) and end the transaction."""
        try:
            self.conn.rollback()
            self.conn.autocommit = True
            row = self.conn.execute(_LSN_SQL).fetchone()
            facts.lsn_end = row[0] if row else None
        except psycopg.Error:
            facts.lsn_end = None

    def close(self) -> None:
        try:
            self.conn.close()
        except psycopg.Error:
            pass


class CopyRowCounter:
    """Counts the rows of every table in a plain SQL dump as it streams past.

    In ``COPY <table> (...) FROM stdin;`` blocks each row is exactly one line (newlines inside
    values are escaped) and the block ends with a line ``\\.``, so counting newlines gives the
    exact rows written, table by table, at memchr speed and without a second table scan.
    """

    _TERMINATOR = b"\\.\n"
    _MAX_CARRY = 1024 * 1024

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._table: str | None = None
        self._carry = b""
        self._midline = False

    def feed(self, chunk: bytes) -> None:
        data = self._carry + chunk if self._carry else chunk
        self._carry = b""
        while data:
            data = self._inside(data) if self._table is not None else self._outside(data)

    def _outside(self, data: bytes) -> bytes:
        start = 0 if not self._midline and data.startswith(b"COPY ") else data.find(b"\nCOPY ") + 1
        if start <= 0 and not (start == 0 and not self._midline and data.startswith(b"COPY ")):
            last = data.rfind(b"\n")
            tail = data[last + 1:]
            if len(tail) <= self._MAX_CARRY or tail.startswith(b"COPY "):
                self._carry, self._midline = tail, False
            else:
                self._midline = True
            return b""
        end = data.find(b"\n", start)
        if end < 0:
            self._carry, self._midline = data[start:], False
            return b""
        header = data[start:end]
        self._midline = False
        if header.endswith(b" FROM stdin;"):
            self._table = _copy_table(header[5:].decode(errors="replace"))
            self.counts.setdefault(self._table, 0)
        return data[end + 1:]

    def _inside(self, data: bytes) -> bytes:
        assert self._table is not None
        if not self._midline and data.startswith(self._TERMINATOR):
            stop = 0
        elif b"\\" not in data:
            stop = -1  # the terminator starts with a backslash: memchr rules it out faster than find()
        else:
            found = data.find(b"\n" + self._TERMINATOR)
            stop = found + 1 if found >= 0 else -1
        if stop >= 0:
            self.counts[self._table] += data.count(b"\n", 0, stop)
            self._table = None
            self._midline = False
            return data[stop + len(self._TERMINATOR):]
        self.counts[self._table] += data.count(b"\n")
        last = data.rfind(b"\n")
        tail = data[last + 1:]
        starts_line = last >= 0 or not self._midline  # a tail in the middle of a line is no terminator
        if starts_line and len(tail) < len(self._TERMINATOR) and self._TERMINATOR.startswith(tail):
            self._carry, self._midline = tail, False
        else:
            self._midline = bool(tail)
        return b""


def _copy_table(rest: str) -> str:
    """The table name at the start of ``<name> (cols) FROM stdin;`` as pg_dump quoted it."""
    index, quoted = 0, False
    while index < len(rest):
        char = rest[index]
        if char == '"':
            if quoted and index + 1 < len(rest) and rest[index + 1] == '"':
                index += 2
                continue
            quoted = not quoted
        elif char == " " and not quoted:
            break
        index += 1
    return rest[:index]


def count_tables(conn: psycopg.Connection[Any], tables: list[str]) -> dict[str, int | None]:
    """Exact row counts of the named tables (None for a table that does not exist)."""
    counts: dict[str, int | None] = {}
    for name in tables:
        try:
            row = conn.execute(sql.SQL("SELECT count(*) FROM ONLY {}").format(sql.SQL(name))).fetchone()
            counts[name] = int(row[0]) if row else 0
        except psycopg.errors.UndefinedTable:
            counts[name] = None
        except psycopg.Error:
            counts[name] = None
    return counts


def list_tables(conn: psycopg.Connection[Any]) -> list[str]:
    return [row[0] for row in conn.execute(_TABLES_SQL).fetchall() if row[1] == "r"]


def schema_hash(pg_dump: Tool, conninfo: str, env: dict[str, str], snapshot: str | None = None) -> str:
    """sha256 of ``pg_dump --schema-only``, stable across runs of an unchanged schema."""
    argv = [pg_dump.path, "--schema-only", "--no-password", f"--dbname={conninfo}"]
    if snapshot:
        argv.append(f"--snapshot={snapshot}")
    digest = hashlib.sha256()
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        for line in proc.stdout:
            if not line.startswith(_VOLATILE_LINES):
                digest.update(line)
        errors = proc.stderr.read().decode(errors="replace")
        code = proc.wait()
    if code != 0:
        raise BackupFailed(f"pg_dump --schema-only failed: {error_line(errors.splitlines(), 'pg_dump')}")
    return digest.hexdigest()


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
