"""``backup-console wal status [--json]`` and ``wal enable [--archive-dir DIR] [--apply]``, each for one
PostgreSQL instance (``--instance NAME``, default the default one)."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from console.cli.targets import add_one_instance_argument, one_instance
from console.cli.wal_pitr import register_pitr
from console.errors import ExitCode, UsageError
from console.formatting import size
from console.pitr.describe import window_lines
from console.pitr.window import pitr_status

if TYPE_CHECKING:
    from console.cli.output import Printer
    from console.config import Settings


def register(subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "wal", help="PostgreSQL WAL archiving: status, or how to enable it",
        description="Monitor and enable PostgreSQL WAL archiving (the manual's hourly incremental backup).",
    )
    actions = parser.add_subparsers(dest="wal_action", metavar="ACTION", required=True)
    status = actions.add_parser(
        "status", parents=parents, help="pg_stat_archiver, archiving settings and the archive directory",
        description="Show archived/failed counts, the last archived and failed WAL, wal_level, archive_mode, "
                    "archive_command, archive_timeout and the archive directory's size and newest files. "
                    "Exit 0 when archiving works, 1 when it is off or failed since the last check "
                    "(the last failed_count is kept in BACKUP_DIR/.state), 2 on a configuration error.",
    )
    add_one_instance_argument(status)
    status.set_defaults(handler=run_wal_status)
    enable = actions.add_parser(
        "enable", parents=parents, help="show (or --apply) the ALTER SYSTEM statements that enable archiving",
        description="Print the manual's ALTER SYSTEM statements archiving WAL into --archive-dir. With --apply "
                    "(refused in read-only mode, needs a superuser) run them. archive_mode and wal_level only "
                    "take effect after a server restart; a reload is not enough.",
    )
    enable.add_argument("--archive-dir", metavar="DIR",
                        help="directory on the database server where WAL files are copied (default: "
                             "postgres.wal_archive_dir, for a named instance BACKUP_DIR/postgres@NAME/wal)")
    add_one_instance_argument(enable)
    enable.add_argument("--apply", action="store_true", help="run the statements against the server")
    enable.add_argument("--cp", action="store_true",
                        help="the manual's `test ! -f ... && cp` archive_command instead of `wal push` "
                             "(no checksum, no fsync, no compression)")
    enable.add_argument("--program", metavar="PATH",
                        help="the backup-console the server's OS user runs in archive_command "
                             "(default: this one's absolute path)")
    enable.set_defaults(handler=run_wal_enable)

    register_pitr(actions, parents)


def run_wal_status(args: argparse.Namespace, settings: Settings, printer: Printer) -> int:
    from console.wal import wal_status

    settings = one_instance(settings, "postgres", args.instance)
    status = wal_status(settings)
    pitr = _pitr_status(settings, status.archive_dir) if status.archive_dir_readable else None
    pitr_problems = pitr.problems if pitr is not None and pitr.base_backups else []
    ok = status.ok and not pitr_problems
    if args.json:
        printer.data({**status.as_json(), "ok": ok, "problems": status.problems + pitr_problems,
                      "pitr": pitr.as_json() if pitr else None,
                      "recovery_window": pitr.as_json()["recovery_window"] if pitr else None})
    else:
        printer.table(["setting", "value"], [
            ("wal_level", status.wal_level), ("archive_mode", status.archive_mode),
            ("archive_command", status.archive_command or "(empty)"), ("archive_timeout", status.archive_timeout),
            ("archived_count", status.archived_count),
            ("last archived", f"{status.last_archived_wal or '-'} at {status.last_archived_time or '-'}"),
            ("failed_count", f"{status.failed_count} ({status.new_failures} new since the last check)"),
            ("last failed", f"{status.last_failed_wal or '-'} at {status.last_failed_time or '-'}"),
            ("archive dir", f"{status.archive_dir or '(unknown: set postgres.wal_archive_dir)'}"
                            + (f": {status.archive_files} files, {size(status.archive_bytes)}"
                               if status.archive_dir_readable else "")),
        ])
        if status.newest_files:
            printer.line("newest archived files:")
            for item in status.newest_files:
                printer.line(f"  {item.name}  {size(item.size_bytes)}")
        if pitr is not None:
            for line in window_lines(pitr):
                printer.line(line)
        for problem in status.problems + pitr_problems:
            printer.info(f"PROBLEM: {problem}")
        printer.line("WAL archiving: " + ("ok" if ok else "NOT OK"))
    return ExitCode.OK if ok else ExitCode.FAILED


def _pitr_status(settings: Settings, archive_dir: str | None):  # noqa: ANN202 - PitrStatus, imported lazily

    return pitr_status(settings.root, Path(archive_dir or ""), settings.postgres.bin_dir)


def _program(args: argparse.Namespace) -> str | None:
    if args.cp:
        return None
    if args.program:
        return str(args.program)

    found = shutil.which("backup-console") or sys.argv[0]
    return str(Path(found).absolute())


def run_wal_enable(args: argparse.Namespace, settings: Settings, printer: Printer) -> int:
    from console.wal import apply_enable, enable_statements

    settings = one_instance(settings, "postgres", args.instance)
    archive_dir = args.archive_dir or settings.postgres.wal_archive_dir
    if not archive_dir:
        raise UsageError("wal enable: no archive directory: pass --archive-dir or set postgres.wal_archive_dir")
    program = _program(args)
    if not args.apply:
        statements = enable_statements(archive_dir, program=program)
        if args.json:
            printer.data({"statements": statements, "applied": False})
        else:
            printer.line("-- run as a superuser (or again with --apply):")
            for statement in statements:
                printer.line(statement + ";")
            printer.line("-- then RESTART PostgreSQL: archive_mode and wal_level need a restart, not a reload.")
            if program:
                printer.line(f"-- the server's OS user (postgres) must be able to run {program}; "
                             f"restore_command: backup-console wal get --archive-dir {archive_dir} %f %p")
        return ExitCode.OK
    result = apply_enable(settings, archive_dir, program)
    if args.json:
        printer.data({"statements": result.statements, "applied": True, "pending_restart": result.pending_restart})
        return ExitCode.OK
    for statement in result.statements:
        printer.line(f"ran: {statement};")
    if result.pending_restart:
        printer.line(f"RESTART NEEDED: {', '.join(result.pending_restart)} take effect only after a server restart "
                     "(pg_reload_conf() is not enough).")
    else:
        printer.line("all settings are in effect.")
    printer.info(f"make sure {archive_dir} exists on the database server and the server's OS user can write it")
    return ExitCode.OK
