"""The PostgreSQL kind: a custom dump and an SQL dump of each database, from one snapshot."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from console.kinds.base import Kind, Option
from console.kinds.postgres import backup, checks, verify
from console.kinds.postgres.layout import LAYOUT

if TYPE_CHECKING:
    from console.config import Settings


def _defaults(settings: Settings, options: Mapping[str, Any]) -> dict[str, Any]:
    return {"no_sql": bool(options.get("no_sql")), "archive": bool(options.get("archive") or settings.postgres.archive)}


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
    ),
    target_label="database",
    target_flag="--db",
    target_help="database to back up (repeatable); default: postgres.databases, else postgres.database",
    default_targets=backup.databases,
    offered_targets=backup.targets,
    option_defaults=_defaults,
    s3_type="postgresql",
    daily=True,
)
