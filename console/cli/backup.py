"""``backup-console backup KIND``: one verb for every kind; its flags come from the kind's options.

Each kind (console.kinds.registry) declares its options once (``Kind.options``); this module
turns them into flags, and the Backup screen into switches, so both faces offer the same.
"""

from __future__ import annotations

import argparse
import signal
import threading
from typing import TYPE_CHECKING, Any

from console.batch import InstanceRun, run_instances
from console.cli.targets import add_instance_arguments, chosen_instances
from console.errors import ExitCode, UsageError
from console.formatting import duration, size
from console.instances import label
from console.kinds import registry
from console.kinds.base import BackupResult, Kind
from console.progress import CancelToken, ProgressEvent
from console.runner import execute
from console.status import Status

if TYPE_CHECKING:
    from console.cli.output import Printer
    from console.config import Settings


def register(subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "backup", help="back up a service, the configuration or the certificates",
        description="Run pre-flight checks, then write a complete, checksummed backup set under BACKUP_DIR/<kind>/ "
                    "(BACKUP_DIR/<kind>@<instance>/ for a named instance), or fail and leave nothing partial behind. "
                    "KIND may name an instance and a database: postgres/analytics/shop. With --all, every "
                    "configured instance, max_parallel_backups at a time. Exit 0 done, 1 failed, 2 usage/config "
                    "error, 3 some targets failed, 11 already running.",
    )
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    for kind in registry.KINDS.values():
        kind_parser = kinds.add_parser(kind.name, parents=parents, help=kind.help, description=kind.help,
                                       epilog=kind.cli_epilog)
        kind_parser.add_argument("--force", action="store_true", help="run even if a pre-flight check fails (needs --reason)")
        kind_parser.add_argument("--reason", help="why the failed checks are overridden; recorded in the metadata")
        kind_parser.add_argument("--upload", action="store_true", help="copy the set to S3 afterwards")
        add_instance_arguments(kind_parser)
        add_kind_arguments(kind_parser, kind)
        kind_parser.set_defaults(handler=run_backup_cli, backup_kind=kind)


def add_kind_arguments(parser: argparse.ArgumentParser, kind: Kind) -> None:
    """The kind's targets (``--db`` for PostgreSQL) and options as flags."""
    if kind.target_flag:
        parser.add_argument(kind.target_flag, action="append", dest="targets", metavar="NAME",
                            help=kind.target_help or f"{kind.target_label} to back up (repeatable)")
    for option in kind.options:
        if option.type == "switch":
            parser.add_argument(option.flag, action="store_true", dest=option.name, help=option.help)
        else:
            parser.add_argument(option.flag, dest=option.name, metavar=option.metavar, help=option.help)


def requests_from_args(args: argparse.Namespace, settings: Settings, kind: Kind, instance: str | None = None) -> list:
    options = {option.name: getattr(args, option.name) for option in kind.options}
    return kind.requests(settings, getattr(args, "targets", None), options,
                         force_reason=args.reason if args.force else None, upload=bool(args.upload), instance=instance)


def run_backup_cli(args: argparse.Namespace, settings: Settings, printer: Printer) -> int:
    if args.force and not (args.reason or "").strip():
        raise UsageError('--force needs --reason "why" (it is recorded with the backup)')
    if args.reason and not args.force:
        raise UsageError("--reason only goes with --force")
    kind = args.backup_kind
    instances = chosen_instances(args, settings, kind.name)
    runs = [InstanceRun(kind.name, instance.name, tuple(requests_from_args(args, settings, kind, instance.name)))
            for instance in instances]
    cancel = CancelToken()
    previous = _install_cancel_handlers(cancel, printer)
    several = len(runs) > 1
    lock = threading.Lock()

    def progress_for(run: InstanceRun):  # noqa: ANN202 - a ProgressCallback
        if args.json:
            return None
        return printer.progress() if not several else _prefixed(printer, run.label, lock)

    def on_result(result: BackupResult) -> None:
        if not args.json:
            with lock:
                print_result(result, printer)

    try:
        results = run_instances(settings, runs, lambda s, r, p, c: execute(s, r, on_progress=p, cancel=c),
                                progress_for, cancel, on_result)
    finally:
        _restore_handlers(previous)
    if args.json:
        printer.data(results[0].as_json() if len(results) == 1 else {"results": [r.as_json() for r in results]})
    elif several:
        print_summary(results, printer)
    return exit_code_for_results(results)


def _prefixed(printer: Printer, label: str, lock: threading.Lock):  # noqa: ANN202 - a ProgressCallback
    """One line per phase, named by its instance: several instances' bars cannot share one terminal line."""
    def show(event: ProgressEvent) -> None:
        if event.message or event.finished:
            with lock:
                printer.info(f"[{label}] {event.phase}: {event.message or 'done'}")

    return show


def print_summary(results: list[BackupResult], printer: Printer) -> None:
    ok = sum(result.ok for result in results)
    printer.line(f"{ok} of {len(results)} backups ok")
    printer.table(["target", "result", "time", "set / reason"],
                  [[result.label, result.status.upper(), duration(result.duration_seconds),
                    result.set_id if result.ok else result.message] for result in results])


def exit_code_for_results(results: list[BackupResult]) -> int:
    if any(result.status == "cancelled" for result in results):
        return ExitCode.INTERRUPTED
    ok = sum(result.ok for result in results)
    if ok == len(results):
        return ExitCode.OK
    return ExitCode.PARTIAL if ok else ExitCode.FAILED


def print_result(result: BackupResult, printer: Printer) -> None:

    what = f"{label(result.kind, result.instance)} backup" + (f" of {result.target}" if result.target else "")
    # A pre-flight failure already names its failed checks in the message; list only the rest.
    stopped_by_preflight = not result.ok and result.message.startswith("pre-flight failed")
    for check in result.checks:
        if check.status is Status.WARN or (check.status is Status.FAIL and not stopped_by_preflight):
            printer.info(f"  [{check.status.check_word.upper():4}] {check.title}: {check.evidence}")
    if result.ok:
        printer.line(f"{what}: ok in {duration(result.duration_seconds)} ({result.set_id})")
        for info in result.files:
            printer.line(f"  {info.path}  {size(info.size_bytes)}  sha256 {info.sha256[:16]}")
    else:
        printer.info(f"{what}: {result.status.upper()}: {result.message}")
        hint = result.extra.get("hint")
        if hint:
            printer.info(f"  hint: {hint}")


def _install_cancel_handlers(cancel: Any, printer: Printer) -> dict[int, Any]:
    """First Ctrl-C / SIGTERM cancels cleanly (partials removed, run recorded); a second one aborts."""

    def handler(signum: int, frame: object) -> None:
        if cancel.cancelled:
            raise KeyboardInterrupt
        printer.info("cancelling: removing partial files (press Ctrl-C again to abort at once)")
        cancel.cancel()

    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[signum] = signal.signal(signum, handler)
        except ValueError:  # not the main thread (tests calling the handler directly)
            pass
    return previous


def _restore_handlers(previous: dict[int, Any]) -> None:
    for signum, old in previous.items():
        signal.signal(signum, old)
