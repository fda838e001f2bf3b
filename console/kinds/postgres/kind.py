"""The PostgreSQL kind: a custom dump and an SQL dump of each database, from one snapshot."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from console.errors import UsageError
from console.kinds.base import BackupRequest, Kind, Option
from console.kinds.postgres import backup, checks, verify
from console.kinds.postgres.layout import LAYOUT
from console.pitr import checks as pitr_checks

if TYPE_CHECKING:
    from console.config import Settings


def _defaults(settings: Settings, options: Mapping[str, Any]) -> dict[str, Any]:
    if options.get("physical"):  # what the operator asked for, to refuse what does not go with it
        return {"no_sql": bool(options.get("no_sql")), "archive": bool(options.get("archive")), "physical": True}
    return {"no_sql": bool(options.get("no_sql")), "archive": bool(options.get("archive") or settings.postgres.archive),
            "physical": False}


def _physical(options: Mapping[str, Any]) -> bool:
    return bool(options.get("physical"))


def _preflight(request: BackupRequest) -> tuple[str, ...]:
    return tuple(pitr_checks.PREFLIGHT) if _physical(request.options) else KIND.preflight


def _check(request: BackupRequest) -> None:
    options = request.options
    if _physical(options) and (request.target or request.upload or options.get("no_sql") or options.get("archive")):
        raise UsageError("--physical backs up the whole cluster: it takes no --db, --no-sql, --archive or --upload")


KIND = Kind(
    name="postgres",
    title="PostgreSQL",
    help="PostgreSQL: custom dump + SQL dump from one snapshot, with metadata (the manual's Steps 1-6)",
    layout=LAYOUT,
    preflight=("postgres.healthy", "postgres.credentials", "postgres.destination_writable", "postgres.disk_space",
               "postgres.previous_backup", "postgres.long_transactions", "common.s3_reachable"),
    checks=checks.CHECKS,
    run=backup.run,
    lock_name=backup.lock_name,
    verifier=verify,
    options=(
        Option("no_sql", "write only the custom dump, not the SQL text dump"),
        Option("archive", "also write archives/backup_<ts>.tar of the set (the manual's Step 6)"),
        Option("physical", "a base backup of the whole cluster (pg_basebackup) for point-in-time recovery, "
                           "under BACKUP_DIR/postgres/base/<ts>/ (postgres@NAME/base/<ts>/ for a named instance)"),
    ),
    extra_checks={"pitr": pitr_checks.CHECKS},
    preflight_for=_preflight,
    check_request=_check,
    whole_target=_physical,
    target_label="database",
    target_flag="--db",
    target_help="database to back up (repeatable); default: postgres.databases, else postgres.database",
    default_targets=backup.databases,
    offered_targets=backup.targets,
    option_defaults=_defaults,
    s3_type="postgresql",
    daily=True,
)
