"""PostgreSQL probe (through psql) and the connection helper (psycopg) of the commands that keep a session."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable

from console.kinds.postgres.client import connection_problem
from console.kinds.postgres.psql_query import PsqlFailed, ask_row, boolean, typed
from console.pitr.describe import recovery_window_facts
from console.probes.result import ProbeResult, ServiceState, Stopwatch

if TYPE_CHECKING:
    import psycopg  # imported where a connection is made: loading the probes must not cost psycopg's 0.1 s

    from console.config import PostgresSettings, Settings

_PROBE_SQL = """
SELECT current_setting('server_version'),
       pg_database_size(current_database()),
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),
       current_setting('max_connections')::int,
       pg_is_in_recovery(),
       (SELECT coalesce(extract(epoch FROM max(clock_timestamp() - xact_start)), 0)::float
          FROM pg_stat_activity WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid()),
       current_setting('wal_level'),
       current_setting('archive_mode'),
       archived_count, failed_count, last_archived_wal,
       extract(epoch FROM last_archived_time)::float, last_failed_wal, extract(epoch FROM last_failed_time)::float
  FROM pg_stat_archiver
"""
_PROBE_FIELDS: tuple[tuple[str, Callable[[str], Any]], ...] = (
    ("version", str), ("database_size_bytes", int), ("connections", int), ("max_connections", int),
    ("in_recovery", boolean), ("longest_transaction_seconds", float), ("wal_level", str),
    ("archive_mode", str), ("archived_count", int), ("archive_failed_count", int), ("last_archived_wal", str),
    ("last_archived_at", float), ("last_failed_wal", str), ("last_failed_at", float))


def connect(pg: PostgresSettings, timeout: float, dbname: str | None = None, autocommit: bool = True) -> psycopg.Connection:
    """Open a connection with a connect timeout; the password goes in the connection, never argv."""
    import psycopg

    kwargs: dict[str, Any] = {
        "host": pg.host,
        "port": pg.port,
        "user": pg.user,
        "dbname": dbname or pg.database,
        "connect_timeout": max(2, math.ceil(timeout)),
        "application_name": "backup-console",
        "autocommit": autocommit,
    }
    if pg.password:
        kwargs["password"] = pg.password
    return psycopg.connect(**kwargs)


def describe_error(exc: Exception, pg: PostgresSettings) -> tuple[ServiceState, str]:
    """Map a psycopg error to a state and a one-line detail naming where."""
    import psycopg

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    timed_out, detail = connection_problem(text, pg)
    if timed_out or isinstance(exc, psycopg.errors.ConnectionTimeout):
        return ServiceState.TIMEOUT, f"no answer from {pg.host}:{pg.port} (connection timed out)"
    return ServiceState.DOWN, detail


def _recovery_window(settings: Settings) -> dict[str, Any] | None:
    """The PITR window when base backups exist; a damaged archive must not break the probe."""
    try:
        return recovery_window_facts(settings.root, settings.postgres.wal_archive_dir, settings.postgres.bin_dir)
    except Exception as exc:  # noqa: BLE001 - shown as text instead of a failed probe
        return {"summary": f"recovery window unknown: {type(exc).__name__}: {exc}"}


def probe(settings: Settings) -> ProbeResult:
    """One psql run, not a psycopg connection: the console (resident, or ``status`` run by cron) does
    not carry psycopg's import (0.2 s, 10 MB) for a probe, and a hung client is a process that the
    timeout kills, not a thread left waiting. The latency is that run's: connect, ask, answer."""
    pg = settings.postgres
    watch = Stopwatch()
    try:
        row = ask_row(pg, _PROBE_SQL, settings.timeout_seconds, statement_timeout=True, grace=2.0)
    except PsqlFailed as exc:
        timed_out, detail = connection_problem(str(exc), pg)
        if timed_out or exc.timed_out:
            return ProbeResult("postgres", "postgresql", ServiceState.TIMEOUT,
                               f"no answer from {pg.host}:{pg.port} (timed out)", watch.ms)
        return ProbeResult("postgres", "postgresql", ServiceState.DOWN, detail, watch.ms)
    latency = watch.ms
    facts = typed(row, _PROBE_FIELDS)
    version, connections, max_connections = facts["version"], facts["connections"], facts["max_connections"]
    failed, archive_mode = facts["archive_failed_count"], facts["archive_mode"]
    metrics = {
        "version": version,
        "database": pg.database,
        "database_size_bytes": facts["database_size_bytes"],
        "connections": connections,
        "max_connections": max_connections,
        "connections_pct": 100.0 * connections / max_connections if max_connections else 0.0,
        "longest_transaction_seconds": round(facts["longest_transaction_seconds"] or 0.0, 1),
        **{name: facts[name] for name in ("in_recovery", "wal_level", "archive_mode", "archived_count",
                                          "archive_failed_count", "last_archived_wal", "last_archived_at",
                                          "last_failed_wal", "last_failed_at")},
    }
    metrics["recovery_window"] = _recovery_window(settings)
    problems = []
    if max_connections and connections >= 0.9 * max_connections:
        problems.append(f"{connections}/{max_connections} connections")
    if archive_mode != "off" and failed and (facts["last_archived_at"] or 0) < (facts["last_failed_at"] or 0):
        problems.append(f"WAL archiving failing ({failed} failures, last {facts['last_failed_wal']})")
    role = "replica" if facts["in_recovery"] else "primary"
    detail = f"PostgreSQL {version.split()[0]} {role}, {connections}/{max_connections} connections"
    if problems:
        return ProbeResult("postgres", "postgresql", ServiceState.DEGRADED, "; ".join(problems), latency, metrics)
    return ProbeResult("postgres", "postgresql", ServiceState.UP, detail, latency, metrics)
