"""``backup-console verify`` and ``backup-console reports list|show``."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING

from console.catalog import KINDS
from console.cli.verify_base import base_instance, run_verify_base
from console.errors import ExitCode
from console.formatting import duration
from console.verify.reports import list_reports, load_report, read_text, report_dir

if TYPE_CHECKING:
    from console.cli.output import Printer
    from console.config import Settings
    from console.verify.model import VerifyReport


@dataclass(frozen=True)
class VerifyOptions:
    kind: str | None
    set_id: str | None
    deep: bool
    json: bool


def register(subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "verify", parents=parents, help="verify backup sets (ours and the manual's) and write a report",
        description="Check every backup set under BACKUP_DIR: SHA-256 against the metadata, compression streams, "
                    "pg_restore --list, SQL dump completeness, RDB checksum, RabbitMQ definitions, tar listings, "
                    "decryption, metadata, age of the newest set (warn after alerts.stale_hours, 26 h) and the S3 copy when uploaded. "
                    "--deep also restores PostgreSQL into a temporary database and loads Redis snapshots in a "
                    "throw-away redis-server. Results go into each set's metadata and into "
                    "BACKUP_DIR/reports/backup_verification_<ts>.report (+ .json). "
                    "Exit 0 nothing failed (warnings allowed), 1 a check failed, 2 usage error.",
    )
    parser.add_argument("--kind", metavar="KIND[/INSTANCE]",
                        help=f"only sets of this kind ({', '.join(KINDS)}), or of one instance of it (redis/cache)")
    parser.add_argument("--set", dest="set_id", metavar="ID", help="only this set (e.g. redis/20260101_020000)")
    parser.add_argument("--deep", action="store_true", help="also restore into scratch targets (slow)")
    parser.add_argument("--physical", action="store_true",
                        help="verify PostgreSQL base backups instead (sha256, manifest, pg_verifybackup on an "
                             "unpacked copy); --set postgres/base/<ts> picks one, --kind postgres/NAME (or --set "
                             "postgres/NAME/base/<ts>) a named instance's")
    parser.set_defaults(handler=_dispatch_verify)

    reports = subparsers.add_parser("reports", help="list or show verification reports",
                                    description="Verification reports under BACKUP_DIR/reports, newest first.")
    actions = reports.add_subparsers(dest="reports_action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=parents, help="reports, newest first",
                                 description="List verification reports, newest first. Exit 0.")
    listing.set_defaults(handler=lambda args, settings, printer: run_reports_list(args.json, settings, printer))
    show = actions.add_parser("show", parents=parents, help="print a report (default: the newest)",
                              description="Print a report in the manual's text format (or its JSON). "
                                          "Exit 0 when the report passed, 1 when it failed, 2 no such report.")
    show.add_argument("report", nargs="?", default="latest", help="report name or path (default: latest)")
    show.set_defaults(handler=lambda args, settings, printer: run_reports_show(args.report, args.json, settings,
                                                                               printer))


def _dispatch_verify(args: argparse.Namespace, settings: Settings, printer: Printer) -> int:
    instance = base_instance(args.kind, args.set_id)
    if args.physical or instance is not None:
        return run_verify_base(args.set_id, args.json, settings, printer, instance)
    return run_verify(VerifyOptions(args.kind, args.set_id, args.deep, args.json), settings, printer)


def run_verify(options: VerifyOptions, settings: Settings, printer: Printer) -> int:
    from console.verify.run import verify

    report = verify(settings, kind=options.kind, set_id=options.set_id, deep=options.deep,
                    on_progress=printer.progress())
    if options.json:
        printer.data({**report.as_json(), "report_text": str(report_dir(settings) / f"{report.report_name}.report"),
                      "report_json": str(report_dir(settings) / f"{report.report_name}.json")})
    else:
        printer.line(read_text(settings, report).rstrip("\n"))
        _print_failures(report, printer)
        if not report.sets:
            printer.info(f"no backup sets found under {settings.backup_dir}")
        printer.info(f"report: {report_dir(settings) / report.report_name}.report")
    return ExitCode.OK if report.ok else ExitCode.FAILED


def _print_failures(report: VerifyReport, printer: Printer) -> None:
    failed = [item for item in report.sets if item.status == "failed"]
    for item in failed:
        printer.info(f"FAILED {item.set_id}:")
        for outcome in item.checks:
            if outcome.status == "failed":
                printer.info(f"  {outcome.file or '-'}: [{outcome.check}] {outcome.message}")


def run_reports_list(json_mode: bool, settings: Settings, printer: Printer) -> int:
    found = list_reports(settings)
    if json_mode:
        printer.data({"reports": [item.as_json() for item in found]})
        return ExitCode.OK
    if not found:
        printer.line("no verification reports yet (run `backup-console verify`)")
        return ExitCode.OK
    printer.table(["report", "finished", "status", "sets", "passed", "failed", "warnings", "duration"],
                  [[item.name, item.finished_at, item.status.upper(), item.sets, item.passed, item.failed,
                    item.warnings, duration(item.duration_seconds)] for item in found])
    return ExitCode.OK


def run_reports_show(reference: str, json_mode: bool, settings: Settings, printer: Printer) -> int:
    report = load_report(settings, reference)
    if json_mode:
        printer.data(report.as_json())
    else:
        printer.line(read_text(settings, report).rstrip("\n"))
    return ExitCode.OK if report.ok else ExitCode.FAILED
