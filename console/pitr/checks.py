"""Pre-flight checks for a base backup (ids ``pitr.<name>``): a replication connection is
allowed, wal_level is replica or logical, archiving works, and there is room for the copy."""

from __future__ import annotations

import subprocess
import threading
from typing import Any, Mapping

from console.kinds.postgres.client import child_environment, find_tool
from console.preflight import Check, CheckContext, destination_writable, free_space
from console.probes.postgres import connect, describe_error
from console.status import Status

CheckOutcome = tuple[Status, str, Mapping[str, Any]] | tuple[Status, str]


_facts_lock = threading.Lock()
_facts: tuple[CheckContext, dict[str, Any]] | None = None


def _settings(context: CheckContext) -> dict[str, Any]:
    """The server's settings the checks judge, asked once per pre-flight (the checks run concurrently
    on one context: the first asks, the others wait for its answer)."""
    global _facts
    with _facts_lock:
        if _facts is not None and _facts[0] is context:
            return _facts[1]
        facts = _ask(context)
        _facts = (context, facts)
        return facts


def _ask(context: CheckContext) -> dict[str, Any]:
    pg = context.settings.postgres
    with connect(pg, context.settings.timeout_seconds) as conn:
        row = conn.execute(
            "SELECT current_setting('wal_level'), current_setting('archive_mode'), "
            "current_setting('max_wal_senders')::int, (SELECT failed_count FROM pg_stat_archiver), "
            "(SELECT last_failed_time > coalesce(last_archived_time, '-infinity') FROM pg_stat_archiver), "
            "(SELECT sum(pg_database_size(oid)) FROM pg_database)::bigint, "
            "(SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user)").fetchone()
    assert row is not None
    keys = ("wal_level", "archive_mode", "max_wal_senders", "failed_count", "failing", "cluster_bytes", "may_replicate")
    return dict(zip(keys, row))


def _guarded(body: Any) -> Any:
    def run(context: CheckContext) -> CheckOutcome:
        import psycopg  # here: the kind registry loads these checks without psycopg

        try:
            return body(context, _settings(context))
        except psycopg.Error as exc:
            return Status.FAIL, f"cannot ask the server: {describe_error(exc, context.settings.postgres)[1]}"
    return run


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


def replication(context: CheckContext, facts: dict[str, Any]) -> CheckOutcome:
    """pg_hba.conf must allow a replication connection; only a real one proves it."""
    pg = context.settings.postgres
    if not facts["may_replicate"]:
        return Status.FAIL, f"role {pg.user} has neither REPLICATION nor SUPERUSER"
    if facts["max_wal_senders"] < 1:
        return Status.FAIL, "max_wal_senders = 0"
    psql = find_tool("psql", pg.bin_dir)
    target = (f"host={pg.host} port={pg.port} user={pg.user} replication=true dbname=replication "
              f"connect_timeout={max(2, int(context.settings.timeout_seconds))}")
    with child_environment(pg) as env:
        done = subprocess.run([psql.path, "-X", "-A", "-t", "--no-password", "-d", target, "-c", "IDENTIFY_SYSTEM"],
                              capture_output=True, text=True, env=env, timeout=context.settings.timeout_seconds + 10)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return Status.FAIL, f"replication connection refused: {reason} (pg_hba.conf needs a 'replication' line)"
    return Status.OK, f"replication connection as {pg.user} allowed (IDENTIFY_SYSTEM answered)"


def disk_space(context: CheckContext, facts: dict[str, Any]) -> CheckOutcome:
    # zstd level 1 or the server's LZ4 rarely make a cluster bigger; the raw size leaves room for
    # incompressible data
    return free_space(context.settings.root.base_backups, int(facts["cluster_bytes"] or 0), "the cluster's size")


def destination(context: CheckContext) -> CheckOutcome:
    return destination_writable(context.settings.root.base_backups)


CHECKS: dict[str, Check] = {
    "wal_level": Check("pitr.wal_level", "wal_level is replica or logical", _guarded(wal_level)),
    "archiving": Check("pitr.archiving", "WAL archiving is on and working", _guarded(archiving)),
    "replication": Check("pitr.replication", "A replication connection is allowed", _guarded(replication)),
    "disk_space": Check("pitr.disk_space", "Free space for the base backup", _guarded(disk_space)),
    "destination": Check("pitr.destination", "Base backup directory is writable", destination),
}

PREFLIGHT = ["postgres.healthy", "pitr.destination", "pitr.wal_level", "pitr.archiving", "pitr.replication",
             "pitr.disk_space"]
