"""``backup-console status``: probe every service and list the newest backups."""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from console.errors import ExitCode

if TYPE_CHECKING:
    from console.catalog import BackupFile, BackupSet
    from console.cli.output import Printer
    from console.config import Settings


@dataclass(frozen=True)
class StatusOptions:
    service: str | None
    json: bool


def register(subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    from console.services import SERVICES

    parser = subparsers.add_parser(
        "status", parents=parents, help="probe services and show the newest backups",
        description="Probe PostgreSQL, Redis, RabbitMQ, S3 and the local backup storage concurrently, "
                    "and list the newest backup of each kind. Exit 0 when every configured service is up, "
                    "1 when any is degraded, down or timing out, 2 on a configuration error.",
    )
    parser.add_argument("--service", choices=sorted(SERVICES), help="probe only this service")
    parser.set_defaults(handler=lambda args, settings, printer: run_status(
        StatusOptions(args.service, args.json), settings, printer))


def collect_status(settings: Settings, service: str | None = None) -> dict[str, Any]:
    """The status document (also what ``--json`` prints)."""
    from console.catalog import scan
    from console.lock import held_locks
    from console.services import probe_all

    results = probe_all(settings, [service] if service else None)
    now = dt.datetime.now().astimezone()
    last_backups = []
    for backup_set in scan(settings.backup_dir).latest_per_target():
        primary = _primary_file(backup_set)
        last_backups.append({"kind": backup_set.kind, "name": backup_set.name or backup_set.kind,
                             "path": str(primary.path), "set_id": backup_set.set_id,
                             "age_seconds": round(backup_set.age_seconds(now))})
    running = [{"name": lock.name, "description": lock.description, "pid": lock.pid,
                "started_at": dt.datetime.fromtimestamp(lock.started).astimezone().isoformat(timespec="seconds")}
               for lock in held_locks(settings.backup_dir)]
    return {
        "generated_at": now.isoformat(timespec="seconds"),
        "read_only": settings.read_only,
        "services": [result.as_json() for result in results],
        "recovery_window": next((result.metrics.get("recovery_window") for result in results
                                 if result.name == "postgres"), None),
        "last_backups": last_backups,
        "running": running,
        "_results": results,
    }


def _primary_file(backup_set: BackupSet) -> BackupFile:
    """The set's main file by role priority (the custom dump before the .sql.gz), not by file order."""
    from console.catalog import PRIMARY_ROLES

    # latest_per_target() yields only sets with a primary role, so one of these is present.
    return next(item for role in PRIMARY_ROLES[backup_set.kind] if (item := backup_set.file(role)) is not None)


def run_status(options: StatusOptions, settings: Settings, printer: Printer) -> int:
    from console.formatting import ago

    document = collect_status(settings, options.service)
    results = document.pop("_results")
    healthy = all(result.state.healthy for result in results)
    if options.json:
        printer.data(document)
    else:
        printer.table(
            ["service", "state", "latency", "detail"],
            [[r.name, r.state.value.upper(), "-" if r.latency_ms is None else f"{r.latency_ms:.0f} ms", r.detail]
             for r in results],
        )
        if not options.service:
            printer.line()
            if document["last_backups"]:
                printer.table(["kind", "name", "age", "path"],
                              [[b["kind"], b["name"], ago(b["age_seconds"]), b["path"]] for b in document["last_backups"]])
            else:
                printer.line(f"no backups found under {settings.backup_dir}")
            for run in document["running"]:
                printer.line(f"running: {run['description']} (pid {run['pid']} since {run['started_at']})")
            if document.get("recovery_window"):
                printer.line(f"postgres point-in-time recovery: {document['recovery_window']['summary']}")
    return ExitCode.OK if healthy else ExitCode.FAILED
