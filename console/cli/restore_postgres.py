"""``backup-console restore postgres BACKUP --target-db NAME [--create] [--jobs N] [--clean --yes]
[--no-owner | --role-map OLD=NEW ...]``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from console.cli.restore_pitr import add_pitr_arguments, run_restore_pitr
from console.errors import ExitCode, ReadOnlyRefused, UsageError
from console.formatting import duration
from console.sets import resolve_set, restore_scope

if TYPE_CHECKING:
    from console.cli.output import Printer
    from console.config import Settings
    from console.kinds.postgres.restore import RestoreReport


def register_kind(kinds: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = kinds.add_parser(
        "postgres", parents=parents, help="restore a PostgreSQL set with pg_restore and compare row counts",
        description="Check the dump's sha256 against the metadata (legacy sets have none: noted), restore it with "
                    "pg_restore into --target-db, then compare every table's row count, the large objects and the "
                    "schema hash with the metadata. Refused in read-only mode; a non-empty target needs --clean "
                    "--yes. Exit 0 restored and equal, 1 failed or different, 2 usage/refused.",
    )
    parser.add_argument("backup", metavar="BACKUP", nargs="?",
                        help="set id (postgres/DB/YYYYmmdd_HHMMSS) or path of a file of the set")
    parser.add_argument("--target-db", metavar="NAME", help="database to restore into")
    parser.add_argument("--create", action="store_true", help="create the target database if it does not exist")
    parser.add_argument("--jobs", type=int, default=0, metavar="N",
                        help="parallel pg_restore jobs (default: one per CPU, up to 4, when there is room to "
                             "decompress the dump; else 1)")
    parser.add_argument("--clean", action="store_true", help="drop the target's objects before restoring (needs --yes)")
    parser.add_argument("--yes", action="store_true", help="confirm overwriting a non-empty target")
    parser.add_argument("--no-owner", action="store_true",
                        help="skip the dump's ownership and privileges: everything belongs to the restoring user "
                             "(for a server without the dump's roles)")
    parser.add_argument("--role-map", action="append", metavar="OLD=NEW",
                        help="give what the dump's role OLD owns or was granted to the target's role NEW "
                             "(repeatable; roles not mapped keep their names and must exist)")

    add_pitr_arguments(parser)
    parser.set_defaults(handler=run_restore_postgres)


def run_restore_postgres(args: argparse.Namespace, settings: Settings, printer: Printer) -> int:
    from console.kinds.postgres.restore import RestoreOptions, restore_postgres
    from console.kinds.postgres.roles import parse_role_map

    if settings.read_only:
        raise ReadOnlyRefused("restore")
    if args.pitr:
        return run_restore_pitr(args, settings, printer)
    if not args.backup or not args.target_db:
        raise UsageError("restore postgres needs BACKUP and --target-db (or --pitr with a target and --to)")
    backup_set = resolve_set(settings, "postgres", args.backup)
    settings = restore_scope(settings, backup_set, getattr(args, "instance", None))
    options = RestoreOptions(args.target_db, create=args.create, jobs=args.jobs, clean=args.clean, yes=args.yes,
                             no_owner=args.no_owner, role_map=parse_role_map(args.role_map))
    report = restore_postgres(settings, backup_set, options, on_progress=printer.progress())
    if args.json:
        printer.data(report.as_json())
    else:
        print_report(report, printer)
    return ExitCode.OK if report.ok else ExitCode.FAILED


def print_report(report: RestoreReport, printer: Printer) -> None:
    for note in report.notes:
        printer.info(f"note: {note}")
    printer.line(f"restored {report.set_id} into {report.target_db} in {duration(report.duration_seconds)} "
                 f"(sha256: {report.checksum})")
    rows = [(t.table, "-" if t.expected is None else t.expected, "missing" if t.actual is None else t.actual,
             "ok" if t.ok and t.expected is not None else ("?" if t.ok else "DIFFERENT")) for t in report.tables]
    if report.large_objects_expected is not None or report.large_objects_actual:
        lo_ok = report.large_objects_expected in (None, report.large_objects_actual)
        rows.append(("(large objects)", "-" if report.large_objects_expected is None else report.large_objects_expected,
                     report.large_objects_actual, "ok" if lo_ok else "DIFFERENT"))
    printer.table(["table", "expected", "restored", "result"], rows)
    if report.schema_ok is not None:
        printer.line(f"schema hash: {'equal' if report.schema_ok else 'DIFFERENT'} ({(report.schema_actual or '')[:16]})")
    if not report.compared:
        printer.line("result: restored; not compared (the set records no row counts or schema hash, a legacy set)")
    else:
        printer.line("result: " + ("ok, the restored database matches the backup" if report.ok
                                   else "DIFFERENT, see the rows above"))
