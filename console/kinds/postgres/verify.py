"""PostgreSQL checks for ``verify``: custom dumps readable, SQL dumps complete, and the deep restore.

``pg_restore --list`` only reads a custom dump's table of contents, so it passes on a dump whose
table data is corrupt (defect 25). Our sets' sha256 catches that; a legacy set has no checksum, so
its dump is also read to the end (``pg_restore -f /dev/null``), as every dump is with ``--deep``,
which also restores into a temporary database, created and always dropped, comparing per-table row
counts with the metadata.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from console.catalog import BackupFile
from console.compressed import compression_of, iter_decompressed
from console.errors import VerifyFailed
from console.integrity import run_tool, tar_listing
from console.kinds.postgres.client import child_environment, conninfo, find_tool
from console.verify.checks import check_stream
from console.verify.model import FAILED, PASSED, WARNING, SetContext

if TYPE_CHECKING:
    from console.config import PostgresSettings

DUMP_COMPLETE = b"-- PostgreSQL database dump complete"
TAIL_BYTES = 4096
"""The marker sits near the end; pg_dump >= 15.14 writes a ``\\unrestrict`` line after it (defect 6)."""
LEGACY_DEFECT = ("the manual's Step 5 writes invalid JSON when BACKUP_DURATION or UNCOMPRESSED_SIZE is unset "
                 "or bc prints '.50' (defect 4)")


def check_file(ctx: SetContext, item: BackupFile) -> None:
    name = item.path.name
    if item.role == "dump":
        if compression_of(name) and check_stream(ctx, item) is None:
            return
        ctx.run("pg_restore_list", name, lambda: _list(ctx, item))
        if ctx.deep or not ctx.has_checksum(name):
            # without a recorded checksum (a legacy set) nothing else would notice corrupt table data
            ctx.run("pg_restore_read", name, lambda: _full_read(ctx, item))
    elif item.role == "sql":
        tail = check_stream(ctx, item, TAIL_BYTES)
        if tail is not None:
            ctx.run("sql_complete", name, lambda: _sql_complete(tail))
    elif item.role == "archive":
        ctx.run("tar", name, lambda: f"archive lists "
                f"{len(tar_listing(item.path, name, ctx.cancel, ctx.raw_observer(name)))} file(s)")


def _sql_complete(tail: bytes) -> tuple[str, str]:
    if DUMP_COMPLETE in tail:
        return PASSED, "SQL dump complete ('-- PostgreSQL database dump complete' at the end)"
    return FAILED, "SQL dump incomplete: no '-- PostgreSQL database dump complete' near the end (truncated?)"


def _feed(item: BackupFile, ctx: SetContext) -> tuple[list[str], Iterable[bytes] | None]:
    """pg_restore's input: the file itself, or the decompressed stream on stdin."""
    if compression_of(item.path.name):
        return [], iter_decompressed(item.path, ctx.cancel)
    return [str(item.path)], None


def _pg_restore() -> str:
    return find_tool("pg_restore").path


def _list(ctx: SetContext, item: BackupFile) -> str:
    source, feed = _feed(item, ctx)
    run = run_tool([_pg_restore(), "--list", *source], feed=feed, cancel=ctx.cancel)
    if run.returncode != 0:
        raise VerifyFailed(f"custom dump unreadable (pg_restore --list): {run.error_line()}")
    return f"Custom dump readable (pg_restore --list: {run.stdout_lines} TOC lines)"


def _full_read(ctx: SetContext, item: BackupFile) -> str:
    source, feed = _feed(item, ctx)
    run = run_tool([_pg_restore(), "--file", "/dev/null", *source], feed=feed, cancel=ctx.cancel)
    if run.returncode != 0:
        raise VerifyFailed(f"custom dump data unreadable (pg_restore full read): {run.error_line()}")
    return "Custom dump data readable to the end (pg_restore -f /dev/null)"


# --- deep: restore into a temporary database ---------------------------------------------------


def recorded_row_counts(document: Mapping[str, Any] | None) -> dict[str, int] | None:
    """Per-table exact row counts from our metadata, wherever the backup recorded them."""
    if not document:
        return None
    candidates = [document.get("table_row_counts"), document.get("row_counts")]
    stats = document.get("database_stats")
    if isinstance(stats, dict):
        candidates += [stats.get("table_row_counts"), stats.get("row_counts"), stats.get("tables")]
    for candidate in candidates:
        if isinstance(candidate, dict) and all(isinstance(v, int) for v in candidate.values()):
            return {str(k): int(v) for k, v in candidate.items()}
    return None


def deep_check(ctx: SetContext) -> None:
    """Restore the custom dump (else the SQL dump) into a scratch database and compare row counts."""
    item = ctx.backup_set.file("dump") or ctx.backup_set.file("sql")
    if item is None:
        return
    if any(o.status == FAILED and o.file == item.path.name for o in ctx.outcomes):
        ctx.add("deep_restore", FAILED, "restore not attempted: the file already failed its checks", item.path.name)
        return
    import psycopg

    from console.kinds.postgres.stats import count_tables, list_tables
    from console.probes.postgres import connect, describe_error

    pg: PostgresSettings = ctx.settings.postgres
    scratch = f"bc_verify_{ctx.backup_set.stamp}_{uuid.uuid4().hex[:6]}"
    timeout = ctx.settings.timeout_seconds
    try:
        with connect(pg, timeout, dbname="postgres") as admin:
            admin.execute(f'CREATE DATABASE "{scratch}" TEMPLATE template0')
            admin.execute(f'REVOKE CONNECT, TEMPORARY ON DATABASE "{scratch}" FROM PUBLIC')  # restored data stays ours
    except psycopg.Error as exc:
        ctx.add("deep_restore", WARNING, f"restore not attempted: cannot create a scratch database "
                f"({describe_error(exc, pg)[1]})", item.path.name)
        return
    try:
        with child_environment(pg) as env:
            if item.role == "dump":
                source, feed = _feed(item, ctx)
                argv = [find_tool("pg_restore").path, "--dbname", conninfo(pg, scratch), "--no-owner",
                        "--no-privileges", "--exit-on-error", *source]
            else:
                feed = iter_decompressed(item.path, ctx.cancel)
                argv = [find_tool("psql").path, "--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1",
                        "--dbname", conninfo(pg, scratch), "--output", "/dev/null"]
            run = run_tool(argv, env=env, feed=feed, cancel=ctx.cancel)
        if run.returncode != 0:
            ctx.add("deep_restore", FAILED, f"restore into a scratch database failed: {run.error_line()}",
                    item.path.name)
            return
        with connect(pg, timeout, dbname=scratch) as conn:
            expected = recorded_row_counts(ctx.document)
            tables = sorted(expected) if expected else list_tables(conn)
            counts = count_tables(conn, tables)
        _compare(ctx, item.path.name, expected, counts)
    finally:
        _drop(pg, timeout, scratch)


def _compare(ctx: SetContext, name: str, expected: dict[str, int] | None,
             counts: Mapping[str, int | None]) -> None:
    total = sum(value or 0 for value in counts.values())
    if expected is None:
        ctx.add("deep_restore", PASSED, f"restored into a scratch database: {len(counts)} table(s), {total} row(s) "
                "(no per-table counts recorded to compare)", name)
        return
    wrong = [f"{table}: {counts.get(table)} restored, {count} recorded" for table, count in expected.items()
             if counts.get(table) != count]
    if wrong:
        shown = "; ".join(wrong[:3]) + (f"; and {len(wrong) - 3} more" if len(wrong) > 3 else "")
        ctx.add("deep_restore", FAILED, f"row counts differ after restore: {shown}", name)
    else:
        ctx.add("deep_restore", PASSED, f"restored into a scratch database: {len(expected)} table(s), {total} row(s) "
                "match the metadata", name)


def _drop(pg: PostgresSettings, timeout: float, scratch: str) -> None:
    import psycopg

    from console.probes.postgres import connect

    try:
        with connect(pg, timeout, dbname="postgres") as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
    except psycopg.Error:
        pass  # the name carries the stamp and "bc_verify_": an operator can spot and drop it
