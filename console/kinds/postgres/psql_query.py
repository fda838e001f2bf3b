"""One row of one query through ``psql``, for the short processes that must not pay psycopg's import.

A base backup run from cron is a process of about a second; importing psycopg (with asyncio and
importlib.metadata behind it) costs 0.15-0.25 s of it on a two-core machine, more than starting
psql. The base backup's pre-flight and its server facts ask through this instead. Values come
back as text (NULL as None); the caller converts them.
"""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING, Any, Callable, Sequence

from console.errors import BackupFailed
from console.kinds.postgres.client import child_environment, conninfo, error_line, locate_tool, scrub

if TYPE_CHECKING:
    from console.config import PostgresSettings

FIELD_SEPARATOR = "\x1f"
RECORD_SEPARATOR = "\x1e"
NULL = "\x1a"
"""What psql prints for NULL: a control character no setting or number we ask for contains."""


class PsqlFailed(Exception):
    """psql could not connect or the query failed; the message is psql's telling line, password-free."""

    def __init__(self, message: str, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


def parse_rows(text: str) -> list[list[str | None]]:
    """psql's unaligned, tuples-only output with our separators -> rows of fields (None for NULL)."""
    if text.endswith("\n"):  # psql ends its output with one newline after the last record
        text = text[:-1]
    rows = []
    for record in text.split(RECORD_SEPARATOR) if text else []:
        rows.append([None if field == NULL else field for field in record.split(FIELD_SEPARATOR)])
    return rows


def boolean(text: str) -> bool:
    """psql prints a boolean as ``t`` or ``f``."""
    return text == "t"


def typed(row: Sequence[str | None], fields: Sequence[tuple[str, Callable[[str], Any]]]) -> dict[str, Any]:
    """A row's fields by name, each converted from psql's text (NULL stays None)."""
    return {name: None if value is None else convert(value) for (name, convert), value in zip(fields, row)}


def ask(pg: PostgresSettings, sql: str, timeout: float, dbname: str | None = None,
        replication: bool = False, statement_timeout: bool = False, grace: float = 10.0) -> list[list[str | None]]:
    """Run ``sql`` (SQL, or a replication command when ``replication``) and return its rows.

    ``timeout`` bounds the connection (libpq's connect_timeout, at least 2 s) and, with
    ``statement_timeout``, the query on the server; psql is killed ``grace`` seconds after it.
    ``replication`` opens a physical replication connection (what pg_basebackup opens): the only
    proof that pg_hba.conf lets it in. Raises PsqlFailed.
    """
    try:
        psql = locate_tool("psql", pg.bin_dir)
    except BackupFailed as exc:
        raise PsqlFailed(f"{exc.message} ({exc.hint})") from None
    target = conninfo(pg, "replication" if replication else dbname or pg.database, timeout)
    if replication:
        target += " replication=true"
    if statement_timeout:
        target += f" options='-c statement_timeout={int(timeout * 1000)}'"
    argv = [psql, "--no-psqlrc", "--no-align", "--tuples-only", "--quiet", "--no-password",
            "--set", "ON_ERROR_STOP=1", "--field-separator", FIELD_SEPARATOR, "--record-separator", RECORD_SEPARATOR,
            "--pset", f"null={NULL}", "--dbname", target, "--command", sql]
    try:
        with child_environment(pg) as env:
            done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout + grace)
    except subprocess.TimeoutExpired:
        raise PsqlFailed(f"timeout expired: no answer in {timeout + grace:.0f} s", timed_out=True) from None
    if done.returncode != 0:
        line = scrub(error_line(done.stderr.splitlines(), "psql"), pg)
        lowered = line.lower()
        raise PsqlFailed(line, timed_out="timeout expired" in lowered or "statement timeout" in lowered)
    return parse_rows(done.stdout)


def ask_row(pg: PostgresSettings, sql: str, timeout: float, dbname: str | None = None,
            replication: bool = False, statement_timeout: bool = False, grace: float = 10.0) -> list[str | None]:
    """The first row of ``ask``; PsqlFailed when there is none."""
    rows = ask(pg, sql, timeout, dbname, replication, statement_timeout, grace)
    if not rows:
        raise PsqlFailed(f"{pg.host}:{pg.port} returned no row")
    return rows[0]
