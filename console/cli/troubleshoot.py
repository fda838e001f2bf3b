"""``backup-console troubleshoot transactions|terminate|disk|redis``: the manual's common
issues, each with the evidence it used."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from console.errors import ConfirmationRequired, ExitCode, ReadOnlyRefused
from console.formatting import metric_value
from console.troubleshoot import disk_usage, long_transactions, redis_persistence, terminate_backend

if TYPE_CHECKING:
    from console.cli.output import Printer
    from console.config import Settings
    from console.troubleshoot import Diagnosis


def register(subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "troubleshoot", help="diagnose common backup problems (long transactions, disk, Redis snapshots)",
        description="The manual's common issues, from the live systems. Exit 0 when nothing is wrong, "
                    "1 when a problem was found or a service is unreachable, 2 on a usage error "
                    "(also: terminate refused in read-only mode or without --yes).",
    )
    verbs = parser.add_subparsers(dest="troubleshoot_verb", metavar="ACTION", required=True)
    transactions = verbs.add_parser("transactions", parents=parents, help="list long-running PostgreSQL transactions")
    transactions.add_argument("--min-seconds", type=float, help="threshold (default postgres.long_transaction_seconds)")
    transactions.set_defaults(handler=lambda a, s, p: _show(s, p, a.json, _transactions(a, s)))
    terminate = verbs.add_parser("terminate", parents=parents, help="end a PostgreSQL backend (pg_terminate_backend)")
    terminate.add_argument("pid", type=int)
    terminate.add_argument("--yes", action="store_true", help="confirm terminating it")
    terminate.set_defaults(handler=run_terminate)
    disk = verbs.add_parser("disk", parents=parents, help="largest files and usage per kind in BACKUP_DIR")
    disk.add_argument("--top", type=int, default=10, help="how many files to list (default 10)")
    disk.set_defaults(handler=lambda a, s, p: _show(s, p, a.json, _disk(a, s)))
    redis = verbs.add_parser("redis", parents=parents, help="last BGSAVE result, persistence settings, AOF fallback")
    redis.set_defaults(handler=lambda a, s, p: _show(s, p, a.json, _redis(s)))


def _transactions(args: argparse.Namespace, settings: Settings) -> Diagnosis:
    return long_transactions(settings, args.min_seconds)


def _disk(args: argparse.Namespace, settings: Settings) -> Diagnosis:
    return disk_usage(settings, max(1, args.top))


def _redis(settings: Settings) -> Diagnosis:
    return redis_persistence(settings)


def run_terminate(args: argparse.Namespace, settings: Settings, printer: Printer) -> int:
    if settings.read_only:
        raise ReadOnlyRefused(f"terminating backend {args.pid}")
    if not args.yes:
        raise ConfirmationRequired(f"terminating backend {args.pid} needs --yes",
                                   hint="check it first with `backup-console troubleshoot transactions`")
    return _show(settings, printer, args.json, terminate_backend(settings, args.pid))


def _show(settings: Settings, printer: Printer, json_mode: bool, diagnosis: Diagnosis) -> int:
    if json_mode:
        printer.data(diagnosis.as_json())
    else:
        printer.line(f"{diagnosis.title}: {diagnosis.status.upper()}: {diagnosis.summary}")
        if diagnosis.rows:
            headers = list(diagnosis.rows[0])
            printer.table(headers, [[metric_value(key, row[key]) if key.endswith("_bytes") else
                                     ("" if row[key] is None else row[key]) for key in headers]
                                    for row in diagnosis.rows])
        for line in diagnosis.evidence:
            printer.line(f"evidence: {line}")
        for line in diagnosis.advice:
            printer.line(f"advice: {line}")
    return ExitCode.FAILED if diagnosis.status == "problem" else ExitCode.OK
