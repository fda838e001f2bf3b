"""PostgreSQL probe and connection helper (psycopg)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from console.pitr.describe import recovery_window_facts
from console.probes.result import ProbeResult, ServiceState, Stopwatch

if TYPE_CHECKING:
    import psycopg  # imported where a connection is made: loading the probes must not cost psycopg's 0.1 s

    from console.config import PostgresSettings, Settings

_STATS_SQL = """
SELECT current_setting('server_version'),
       pg_database_size(current_database()),
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),
       current_setting('max_connections')::int,
       pg_is_in_recovery(),
       (SELECT coalesce(extract(epoch FROM max(clock_timestamp() - xact_start)), 0)::float
          FROM pg_stat_activity WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid()),
       current_setting('wal_level'),
       current_setting('archive_mode')
"""
_ARCHIVER_SQL = """
SELECT archived_count, failed_count, last_archived_wal,
       extract(epoch FROM last_archived_time)::float, last_failed_wal, extract(epoch FROM last_failed_time)::float
  FROM pg_stat_archiver
"""


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
    where = f"{pg.host}:{pg.port}"
    lowered = text.lower()
    if isinstance(exc, psycopg.errors.ConnectionTimeout) or "timeout expired" in lowered:
        return ServiceState.TIMEOUT, f"no answer from {where} (connection timed out)"
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return ServiceState.DOWN, f"authentication failed for user '{pg.user}' at {where}"
    if "connection refused" in lowered:
        return ServiceState.DOWN, f"connection refused at {where}"
    if "does not exist" in lowered:
        return ServiceState.DOWN, f"{text} ({where})"
    if "could not translate host name" in lowered or "name or service not known" in lowered:
        return ServiceState.DOWN, f"unknown host '{pg.host}'"
    # libpq prefixes "connection failed: connection to server at ... failed:"; keep the reason
    reason = text.rsplit("failed:", 1)[-1].strip() or text
    return ServiceState.DOWN, f"{reason} ({where})"


def _recovery_window(settings: Settings) -> dict[str, Any] | None:
    """The PITR window when base backups exist; a damaged archive must not break the probe."""
    try:
        return recovery_window_facts(settings.root, settings.postgres.wal_archive_dir, settings.postgres.bin_dir)
    except Exception as exc:  # noqa: BLE001 - shown as text instead of a failed probe
        return {"summary": f"recovery window unknown: {type(exc).__name__}: {exc}"}


def probe(settings: Settings) -> ProbeResult:
    import psycopg  # before the stopwatch: the first import is not the server's latency

    pg = settings.postgres
    watch = Stopwatch()
    try:
        with connect(pg, settings.timeout_seconds) as conn:
            latency = watch.ms
            conn.execute(f"SET statement_timeout = {int(settings.timeout_seconds * 1000)}")
            (version, db_size, connections, max_connections, in_recovery, longest_xact,
             wal_level, archive_mode) = conn.execute(_STATS_SQL).fetchone()  # type: ignore[misc]
            archived, failed, last_wal, last_archived_at, last_failed_wal, last_failed_at = conn.execute(
                _ARCHIVER_SQL).fetchone()  # type: ignore[misc]
    except psycopg.Error as exc:
        state, detail = describe_error(exc, pg)
        return ProbeResult("postgres", "postgresql", state, detail, watch.ms)
    metrics = {
        "version": version,
        "database": pg.database,
        "database_size_bytes": db_size,
        "connections": connections,
        "max_connections": max_connections,
        "connections_pct": 100.0 * connections / max_connections if max_connections else 0.0,
        "longest_transaction_seconds": round(longest_xact, 1),
        "in_recovery": in_recovery,
        "wal_level": wal_level,
        "archive_mode": archive_mode,
        "archived_count": archived,
        "archive_failed_count": failed,
        "last_archived_wal": last_wal,
        "last_archived_at": last_archived_at,
        "last_failed_wal": last_failed_wal,
        "last_failed_at": last_failed_at,
    }
    metrics["recovery_window"] = _recovery_window(settings)
    problems = []
    if max_connections and connections >= 0.9 * max_connections:
        problems.append(f"{connections}/{max_connections} connections")
    if archive_mode != "off" and failed and (last_archived_at or 0) < (last_failed_at or 0):
        problems.append(f"WAL archiving failing ({failed} failures, last {last_failed_wal})")
    role = "replica" if in_recovery else "primary"
    detail = f"PostgreSQL {version.split()[0]} {role}, {connections}/{max_connections} connections"
    if problems:
        return ProbeResult("postgres", "postgresql", ServiceState.DEGRADED, "; ".join(problems), latency, metrics)
    return ProbeResult("postgres", "postgresql", ServiceState.UP, detail, latency, metrics)
