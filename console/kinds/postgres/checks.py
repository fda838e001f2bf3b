"""The manual's PostgreSQL pre-backup checklist as automated checks (ids ``postgres.<name>``).

Checks that need the server return SKIP when it does not answer, so a server that is down
gives one clear failure (``postgres.healthy``) instead of the same reason five times.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Mapping

from console.catalog import read_metadata, scan
from console.formatting import duration
from console.preflight import Check, CheckContext, destination_writable, free_space
from console.probes.postgres import connect, describe_error
from console.runlog import read_runs
from console.status import Status

if TYPE_CHECKING:
    import psycopg  # imported by the checks that connect: the kind registry must load without it

CheckOutcome = tuple[Status, str, Mapping[str, Any]] | tuple[Status, str]

_LONG_SQL = """
SELECT pid, coalesce(usename, '?'), coalesce(datname, '?'), coalesce(application_name, ''),
       extract(epoch FROM clock_timestamp() - xact_start)::float, left(coalesce(query, ''), 80)
  FROM pg_stat_activity
 WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid() AND backend_type = 'client backend'
 ORDER BY xact_start
"""


def _database(context: CheckContext) -> str:
    return context.target or context.settings.postgres.database


def _connect(context: CheckContext) -> psycopg.Connection[Any]:
    return connect(context.settings.postgres, context.settings.timeout_seconds, dbname=_database(context))


def _unreachable(exc: psycopg.Error, context: CheckContext) -> CheckOutcome:
    return Status.SKIP, f"not checked: {describe_error(exc, context.settings.postgres)[1]}"


def healthy(context: CheckContext) -> CheckOutcome:
    """Database is healthy: connect and SELECT 1 (the manual used pg_isready)."""
    import psycopg

    pg = context.settings.postgres
    started = time.perf_counter()
    try:
        with _connect(context) as conn:
            conn.execute("SELECT 1")
            version = conn.execute("SHOW server_version").fetchone()
    except psycopg.Error as exc:
        return Status.FAIL, f"database '{_database(context)}': {describe_error(exc, pg)[1]}"
    ms = (time.perf_counter() - started) * 1000
    return Status.OK, f"{_database(context)} at {pg.host}:{pg.port} answers SELECT 1 in {ms:.0f} ms " \
                             f"(PostgreSQL {version[0].split()[0] if version else '?'})"


def credentials(context: CheckContext) -> CheckOutcome:
    """A password is configured when the server asks for one, and authentication works."""
    import psycopg

    pg = context.settings.postgres
    try:
        with _connect(context):
            pass
    except psycopg.Error as exc:
        text = str(exc).lower()
        if "no password supplied" in text or "fe_sendauth" in text:
            return Status.FAIL, (f"the server asks a password for user '{pg.user}' and none is configured "
                                      "(POSTGRES_PASSWORD or postgres.password)")
        if "authentication failed" in text:
            return Status.FAIL, f"authentication failed for user '{pg.user}' at {pg.host}:{pg.port}"
        return _unreachable(exc, context)
    if pg.password:
        return Status.OK, f"password for '{pg.user}' configured and accepted"
    return Status.OK, f"no password needed for '{pg.user}' (trust, peer or ~/.pgpass)"


def disk_space(context: CheckContext) -> CheckOutcome:
    """Free space at the destination is at least twice the database size."""
    import psycopg

    try:
        with _connect(context) as conn:
            row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    except psycopg.Error as exc:
        return _unreachable(exc, context)
    db_size = int(row[0]) if row else 0
    return free_space(context.settings.root.kind_dir("postgres"), 2 * db_size, "2 x database size")


def destination(context: CheckContext) -> CheckOutcome:
    """The backup destination exists (or can be created) and is writable."""
    return destination_writable(context.settings.root.kind_dir("postgres"))


def previous_backup(context: CheckContext) -> CheckOutcome:
    """The previous backup of this database completed (catalog and run log agree)."""
    database = _database(context)
    backup_dir = context.settings.backup_dir
    instance = context.settings.instance_of("postgres")
    runs = [run for run in read_runs(backup_dir) if run.action == "backup" and run.kind == "postgres"
            and run.instance == instance and run.target == database]
    latest = scan(backup_dir, ["postgres"]).latest("postgres", database, instance)
    details: dict[str, Any] = {"latest_set": latest.set_id if latest else None}
    if runs and runs[-1].status != "ok":
        last = runs[-1]
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(last.finished))
        return Status.WARN, f"the last backup of {database} {last.status} at {when}: {last.message}", details
    if latest is None:
        return Status.OK, f"no previous backup of {database} (first run)", details
    if latest.file("metadata") is None or latest.file("dump") is None:
        return Status.WARN, f"{latest.set_id} is incomplete (roles: {', '.join(sorted(latest.roles()))})", details
    meta = read_metadata(latest)
    if meta.error:
        return Status.WARN, f"{latest.set_id}: {meta.error} (a legacy set?)", details
    return Status.OK, f"{latest.set_id} completed ({_age(latest.age_seconds())} ago)", details


def _age(seconds: float) -> str:
    return duration(seconds)


def long_transactions(context: CheckContext) -> CheckOutcome:
    """No transaction open longer than postgres.long_transaction_seconds (they hold back the dump)."""
    import psycopg

    threshold = context.settings.postgres.long_transaction_seconds
    try:
        with _connect(context) as conn:
            rows = conn.execute(_LONG_SQL).fetchall()
    except psycopg.Error as exc:
        return _unreachable(exc, context)
    found = [{"pid": pid, "user": user, "database": db, "application": app, "age_seconds": round(age, 1),
              "query": query} for pid, user, db, app, age, query in rows]
    details = {"threshold_seconds": threshold, "transactions": [t for t in found if t["age_seconds"] >= threshold]}
    if not found:
        return Status.OK, "no open transaction", details
    oldest = found[0]
    evidence = f"oldest transaction {oldest['age_seconds']:.0f} s (pid {oldest['pid']}, {oldest['user']}" \
               f"{', ' + oldest['application'] if oldest['application'] else ''})"
    long = details["transactions"]
    if long:
        listed = "; ".join(f"pid {t['pid']} {t['user']} {t['age_seconds']:.0f} s: {t['query']!r}" for t in long[:3])
        more = f" (+{len(long) - 3} more)" if len(long) > 3 else ""
        return Status.FAIL, f"{len(long)} transaction(s) open >= {threshold} s: {listed}{more}", details
    return Status.OK, f"{evidence} < {threshold} s", details


CHECKS: dict[str, Check] = {
    "healthy": Check("postgres.healthy", "Database is healthy (connect + SELECT 1)", healthy),
    "disk_space": Check("postgres.disk_space", "Disk space available (min 2x database size)", disk_space),
    "destination_writable": Check("postgres.destination_writable", "Backup destination mounted and writable",
                                  destination),
    "previous_backup": Check("postgres.previous_backup", "Previous backup completed successfully", previous_backup),
    "long_transactions": Check("postgres.long_transactions", "No long-running transactions blocking backup",
                               long_transactions),
    "credentials": Check("postgres.credentials", "All necessary credentials available", credentials),
}
