"""Pre-flight checks for a base backup (ids ``pitr.<name>``): a replication connection is
allowed, wal_level is replica or logical, archiving works, and there is room for the copy."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Mapping

from console.errors import BackupFailed
from console.kinds.postgres.client import connection_problem, find_tool
from console.kinds.postgres.psql_query import PsqlFailed, ask_row, boolean, typed
from console.preflight import Check, CheckContext, destination_writable, free_space
from console.status import Status

CheckOutcome = tuple[Status, str, Mapping[str, Any]] | tuple[Status, str]

_FACTS_SQL = (
    "SELECT current_setting('server_version'), current_setting('wal_level'), current_setting('archive_mode'), "
    "current_setting('max_wal_senders')::int, (SELECT failed_count FROM pg_stat_archiver), "
    "(SELECT last_failed_time > coalesce(last_archived_time, '-infinity') FROM pg_stat_archiver), "
    "(SELECT sum(pg_database_size(oid)) FROM pg_database)::bigint, "
    "(SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user)")
_FACT_FIELDS: tuple[tuple[str, Callable[[str], Any]], ...] = (
    ("server_version", str), ("wal_level", str), ("archive_mode", str), ("max_wal_senders", int),
    ("failed_count", int), ("failing", boolean), ("cluster_bytes", int), ("may_replicate", boolean))

_facts_lock = threading.Lock()
_facts: tuple[CheckContext, dict[str, Any] | str] | None = None


def _settings(context: CheckContext) -> dict[str, Any] | str:
    """The server's settings the checks judge, asked once per pre-flight (the checks run concurrently
    on one context: the first asks, the others wait for its answer); a str says why there are none."""
    global _facts
    with _facts_lock:
        if _facts is not None and _facts[0] is context:
            return _facts[1]
        facts = _ask(context)
        _facts = (context, facts)
        return facts


def _ask(context: CheckContext) -> dict[str, Any] | str:
    """Through psql, not psycopg: the pre-flight of a one-second base backup must not spend a fifth
    of it importing a driver."""
    pg = context.settings.postgres
    started = time.perf_counter()
    try:
        row = ask_row(pg, _FACTS_SQL, context.settings.timeout_seconds)
    except PsqlFailed as exc:
        return connection_problem(str(exc), pg)[1]
    facts = typed(row, _FACT_FIELDS)
    facts["answered_ms"] = (time.perf_counter() - started) * 1000
    return facts


def _guarded(body: Any) -> Any:
    def run(context: CheckContext) -> CheckOutcome:
        facts = _settings(context)
        if isinstance(facts, str):  # pitr.server fails with the reason; the gate is closed by it
            return Status.SKIP, f"not checked: {facts}"
        return body(context, facts)
    return run


def server(context: CheckContext) -> CheckOutcome:
    pg = context.settings.postgres
    facts = _settings(context)
    if isinstance(facts, str):
        return Status.FAIL, f"cannot ask the server: {facts}"
    return Status.OK, f"{pg.host}:{pg.port} answers in {facts['answered_ms']:.0f} ms " \
                      f"(PostgreSQL {str(facts['server_version']).split()[0]})"


def wal_level(context: CheckContext, facts: dict[str, Any]) -> CheckOutcome:
    if facts["wal_level"] in ("replica", "logical"):
        return Status.OK, f"wal_level = {facts['wal_level']}"
    return Status.FAIL, f"wal_level = {facts['wal_level']}: base backups need replica (restart after changing it)"


def archiving(context: CheckContext, facts: dict[str, Any]) -> CheckOutcome:
    if facts["archive_mode"] == "off":
        return Status.FAIL, "archive_mode = off: a base backup without archived WAL cannot be rolled forward " \
                                 "(see `backup-console wal enable`)"
    if facts["failing"]:
        return Status.FAIL, f"the archiver is failing now ({facts['failed_count']} failures; see `wal status`)"
    return Status.OK, f"archive_mode = {facts['archive_mode']}, the archiver's last attempt succeeded"


def replication(context: CheckContext) -> CheckOutcome:
    """pg_hba.conf must allow a replication connection; only a real one proves it. It is opened while
    another check asks for the settings, not after."""
    pg = context.settings.postgres
    try:
        ask_row(pg, "IDENTIFY_SYSTEM", context.settings.timeout_seconds, replication=True)
        refused = ""
    except PsqlFailed as exc:
        refused = str(exc)
    facts = _settings(context)
    if isinstance(facts, str):  # the server does not answer at all: pitr.server says so, once
        return Status.SKIP, f"not checked: {facts}"
    if not facts["may_replicate"]:
        return Status.FAIL, f"role {pg.user} has neither REPLICATION nor SUPERUSER"
    if facts["max_wal_senders"] < 1:
        return Status.FAIL, "max_wal_senders = 0"
    if "pg_hba.conf" in refused:
        return Status.FAIL, f"replication connection refused: {refused} (pg_hba.conf needs a 'replication' line)"
    if refused:
        return Status.FAIL, f"replication connection failed: {connection_problem(refused, pg)[1]}"
    return Status.OK, f"replication connection as {pg.user} allowed (IDENTIFY_SYSTEM answered)"


def disk_space(context: CheckContext, facts: dict[str, Any]) -> CheckOutcome:
    # zstd level 1 or the server's LZ4 rarely make a cluster bigger; the raw size leaves room for
    # incompressible data
    return free_space(context.settings.root.base_backups, int(facts["cluster_bytes"] or 0), "the cluster's size")


def client(context: CheckContext) -> CheckOutcome:
    """pg_basebackup is installed; its version, asked here, is remembered for the run."""
    try:
        tool = find_tool("pg_basebackup", context.settings.postgres.bin_dir)
    except BackupFailed as exc:
        return Status.FAIL, f"{exc.message} ({exc.hint})" if exc.hint else exc.message
    return Status.OK, f"{tool.path}: {tool.version}"


def destination(context: CheckContext) -> CheckOutcome:
    return destination_writable(context.settings.root.base_backups)


CHECKS: dict[str, Check] = {
    "server": Check("pitr.server", "Server answers (connect + its settings)", server),
    "wal_level": Check("pitr.wal_level", "wal_level is replica or logical", _guarded(wal_level)),
    "archiving": Check("pitr.archiving", "WAL archiving is on and working", _guarded(archiving)),
    "replication": Check("pitr.replication", "A replication connection is allowed", replication),
    "disk_space": Check("pitr.disk_space", "Free space for the base backup", _guarded(disk_space)),
    "destination": Check("pitr.destination", "Base backup directory is writable", destination),
    "client": Check("pitr.client", "pg_basebackup is installed", client),
}

PREFLIGHT = ["pitr.server", "pitr.client", "pitr.destination", "pitr.wal_level", "pitr.archiving", "pitr.replication",
             "pitr.disk_space"]
