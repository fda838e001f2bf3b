"""``backup-console backup KIND``: one verb for every kind; each kind module adds its own flags.

A kind module (console.backups.<kind>) provides, for this verb:
``HELP`` (one line), ``add_arguments(parser)`` and ``requests_from_args(args, settings)``
returning the BackupRequests to run (PostgreSQL may back up several databases).
"""

from __future__ import annotations

import argparse
import importlib
import signal
from typing import TYPE_CHECKING, Any

from console.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from console.backups import BackupResult
    from console.cli.output import Printer
    from console.config import Settings


def register(subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    from console.backups import BACKUP_MODULES

    parser = subparsers.add_parser(
        "backup", help="back up a service, the configuration or the certificates",
        description="Run pre-flight checks, then write a complete, checksummed backup set under BACKUP_DIR/<kind>/, "
                    "or fail and leave nothing partial behind. Exit 0 done, 1 failed, 2 usage/config error, "
                    "3 some targets failed, 11 already running.",
    )
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    for kind, module_name in BACKUP_MODULES.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # this kind is not part of the build
            raise
        kind_parser = kinds.add_parser(kind, parents=parents, help=module.HELP, description=module.HELP)
        kind_parser.add_argument("--force", action="store_true", help="run even if a pre-flight check fails (needs --reason)")
        kind_parser.add_argument("--reason", help="why the failed checks are overridden; recorded in the metadata")
        kind_parser.add_argument("--upload", action="store_true", help="copy the set to S3 afterwards")
        module.add_arguments(kind_parser)
        kind_parser.set_defaults(handler=run_backup_cli, backup_module=module)


def run_backup_cli(args: argparse.Namespace, settings: Settings, printer: Printer) -> int:
    from console.backups.runner import execute
    from console.progress import CancelToken

    if args.force and not (args.reason or "").strip():
        raise UsageError('--force needs --reason "why" (it is recorded with the backup)')
    if args.reason and not args.force:
        raise UsageError("--reason only goes with --force")
    requests = args.backup_module.requests_from_args(args, settings)
    cancel = CancelToken()
    previous = _install_cancel_handlers(cancel, printer)
    results: list[BackupResult] = []
    try:
        for request in requests:
            result = execute(settings, request, on_progress=printer.progress(), cancel=cancel)
            results.append(result)
            if not args.json:
                print_result(result, printer)
            if cancel.cancelled:
                break
    finally:
        _restore_handlers(previous)
    if args.json:
        printer.data(results[0].as_json() if len(results) == 1 else {"results": [r.as_json() for r in results]})
    return exit_code_for_results(results)


def exit_code_for_results(results: list[BackupResult]) -> int:
    if any(result.status == "cancelled" for result in results):
        return ExitCode.INTERRUPTED
    ok = sum(result.ok for result in results)
    if ok == len(results):
        return ExitCode.OK
    return ExitCode.PARTIAL if ok else ExitCode.FAILED


def print_result(result: BackupResult, printer: Printer) -> None:
    from console.formatting import duration, size

    what = f"{result.kind} backup" + (f" of {result.target}" if result.target else "")
    # A pre-flight failure already names its failed checks in the message; list only the rest.
    stopped_by_preflight = not result.ok and result.message.startswith("pre-flight failed")
    for check in result.checks:
        if check.status.value == "warn" or (check.status.value == "fail" and not stopped_by_preflight):
            printer.info(f"  [{check.status.value.upper():4}] {check.title}: {check.evidence}")
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
