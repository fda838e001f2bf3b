"""``backup-console status``: probe every service and list the newest backups."""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from console.cli.fleet import run_fleet_status
from console.cli.output import format_table, terminal_width
from console.errors import ExitCode, UsageError
from console.formatting import short_ago
from console.instances import target_label
from console.lock import held_locks
from console.verify.state import configured_targets, never_backed_up, target_states

if TYPE_CHECKING:
    from console.cli.output import Printer
    from console.config import Settings


@dataclass(frozen=True)
class StatusOptions:
    service: str | None
    json: bool


def register(subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    from console.probes import SERVICES

    parser = subparsers.add_parser(
        "status", parents=parents, help="probe services and show the newest backups",
        description="Probe PostgreSQL, Redis, RabbitMQ, S3 and the local backup storage concurrently, "
                    "and list the newest backup of each kind. Exit 0 when every configured service is up, "
                    "1 when any is degraded, down or timing out, 2 on a configuration error.",
    )
    parser.add_argument("--service", metavar="SERVICE[/INSTANCE]",
                        help=f"probe only this service ({', '.join(sorted(SERVICES))}), or one instance of it "
                             "(postgres/analytics); every configured instance is probed by default")
    parser.add_argument("--fleet", action="store_true",
                        help="every backup host's targets from the fleet records in the bucket (result, age, "
                             "verification, stale); exit 1 when something is stale or failed")
    parser.set_defaults(handler=_dispatch_status)


def _dispatch_status(args: argparse.Namespace, settings: Settings, printer: Printer) -> int:
    if args.fleet:
        if args.service:
            raise UsageError("--fleet shows every host's records; --service probes this host's services")

        return run_fleet_status(args.json, settings, printer)
    return run_status(StatusOptions(args.service, args.json), settings, printer)


def collect_status(settings: Settings, service: str | None = None) -> dict[str, Any]:
    """The status document (also what ``--json`` prints)."""
    from console.probes import SERVICES, probe_all

    instance = None
    if service and "/" in service:
        service, instance = service.split("/", 1)
    if service and service not in SERVICES:
        raise UsageError(f"unknown service '{service}': choose from {', '.join(sorted(SERVICES))}")
    if instance is not None:
        settings.instance(service, instance)  # a UsageError naming the configured ones
    # The catalog is read while the probes wait on their servers (10,000 sets: 0.3 s of the run).
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="catalog") as pool:
        reading = pool.submit(target_states, settings)
        results = probe_all(settings, [service] if service else None)
        states = reading.result()
    if instance is not None:
        results = [result for result in results if result.instance == instance]
    now = dt.datetime.now().astimezone()
    # Targets with a set; a target whose only record is a failed run is in "last_runs_without_backup".
    last_backups = [state.as_json(now.timestamp()) for state in states if state.set_id is not None]
    runs_only = [state.as_json(now.timestamp()) for state in states if state.set_id is None]
    # Configured targets with neither a set nor a run: the dashboard's "never" lines.
    never = [{"kind": kind, "instance": instance, "name": name or kind, "label": target_label(kind, instance, name)}
             for kind, instance, name in never_backed_up(states, configured_targets(settings))]
    running = [{"name": lock.name, "description": lock.description, "pid": lock.pid,
                "started_at": dt.datetime.fromtimestamp(lock.started).astimezone().isoformat(timespec="seconds")}
               for lock in held_locks(settings.backup_dir)]
    return {
        "generated_at": now.isoformat(timespec="seconds"),
        "read_only": settings.read_only,
        "services": [result.as_json() for result in results],
        "recovery_window": next((result.metrics.get("recovery_window") for result in results
                                 if result.name == "postgres"), None),
        "recovery_windows": {result.instance: result.metrics.get("recovery_window") for result in results
                             if result.name == "postgres"},
        "last_backups": last_backups,
        "last_runs_without_backup": runs_only,
        "targets_never_backed_up": never,
        "running": running,
        "_results": results,
    }


def run_status(options: StatusOptions, settings: Settings, printer: Printer) -> int:
    document = collect_status(settings, options.service)
    results = document.pop("_results")
    healthy = all(result.state.healthy for result in results)
    if options.json:
        printer.data(document)
    else:
        printer.table(
            ["service", "state", "latency", "detail"],
            [[r.label, r.state.value.upper(), "-" if r.latency_ms is None else f"{r.latency_ms:.0f} ms", r.detail]
             for r in results],
        )
        if not options.service:
            printer.line()
            if document["last_backups"]:
                _print_newest_sets(document["last_backups"], printer)
            else:
                printer.line(f"no backups found under {settings.backup_dir}")
            for item in document["last_runs_without_backup"]:
                where = target_label(item["kind"], item["instance"], item["name"] if item["name"] != item["kind"] else "")
                printer.line(f"{where}: no backup yet; last run {_last_run_word(item)}")
            for item in document["targets_never_backed_up"]:
                printer.line(f"{item['label']}: never backed up")
            for run in document["running"]:
                printer.line(f"running: {run['description']} (pid {run['pid']} since {run['started_at']})")
            for instance, window in document["recovery_windows"].items():
                if window:
                    printer.line(f"{target_label('postgres', instance)} point-in-time recovery: {window['summary']}")
    return ExitCode.OK if healthy else ExitCode.FAILED


def _print_newest_sets(backups: list[dict[str, Any]], printer: Printer) -> None:
    """The set id, age, verification and last run of each target's newest set; with each file's path
    where the terminal is wide enough to show it whole (a pipe always gets it; --json has it)."""
    headers = ["set", "age", "verified", "last run"]
    rows = [[b["set_id"], short_ago(b["age_seconds"]), _verified_word(b), _last_run_word(b)] for b in backups]
    width = terminal_width(printer.out)
    with_path = format_table([*headers, "path"], [[*row, b["path"]] for row, b in zip(rows, backups)])
    if width is None or max(len(line) for line in with_path.splitlines()) <= width:
        printer.line(with_path)
    else:
        printer.table(headers, rows)


def _verified_word(entry: dict[str, Any]) -> str:
    """The newest set's own verification: verified (and how long ago), unverified, warning, FAILED."""
    state = entry.get("verification_status") or "-"
    if state == "failed":
        return "FAILED"
    at = entry.get("verified_at")
    if state == "verified" and at:
        try:
            return f"verified {short_ago(dt.datetime.now().astimezone().timestamp() - dt.datetime.fromisoformat(at).timestamp())}"
        except ValueError:
            pass
    return state


def _last_run_word(entry: dict[str, Any]) -> str:
    run = entry.get("last_run")
    return "-" if run is None else str(run["status"]).upper()
