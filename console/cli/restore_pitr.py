"""``backup-console restore postgres --pitr (--target-time T | --target-lsn L | --target-name N) --to DIR
[--start [--port P]] [--in-place --yes]``: a cluster recovered to a moment."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from console.cli.targets import one_instance
from console.errors import ExitCode, UsageError
from console.pitr.plan import TargetRefused, plan_restore
from console.pitr.targets import parse_target
from console.runlog import RunRecord, record_run

if TYPE_CHECKING:
    from console.cli.output import Printer
    from console.config import Settings


def add_pitr_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "point-in-time recovery",
        "--pitr restores a base backup into --to and replays archived WAL up to exactly one target. The target "
        "is checked against the recovery window before anything is written (exit 2 outside it).")
    group.add_argument("--pitr", action="store_true", help="restore the cluster to a moment (base backup + WAL)")
    group.add_argument("--target-time", metavar="T",
                       help="ISO 8601 time: 2026-12-07T01:40:00Z, with an offset, or local time")
    group.add_argument("--target-lsn", metavar="LSN", help="a WAL location such as 0/3000028")
    group.add_argument("--target-name", metavar="NAME", help="a restore point made by `wal mark NAME`")
    group.add_argument("--to", metavar="DIR", help="new data directory (must be absent or empty)")
    group.add_argument("--start", action="store_true",
                       help="start the copy on a free port (pg_ctl) and wait until it reached the target")
    group.add_argument("--port", type=int, metavar="P", help="port of the restored copy (default: a free one)")
    group.add_argument("--in-place", action="store_true",
                       help="replace a STOPPED cluster's data directory (needs --yes; old contents moved aside)")
    group.add_argument("--action", choices=("promote", "pause"), default="promote",
                       help="at the target: promote (default) or pause to inspect first")
    group.add_argument("--timeline", type=int, metavar="TLI", help="recover along this timeline (default: latest)")
    group.add_argument("--archive-dir", metavar="DIR", help="WAL archive (default postgres.wal_archive_dir)")
    group.add_argument("--program", metavar="PATH",
                       help="backup-console as the cluster's OS user runs it in restore_command "
                            "(default: this one's absolute path)")
    group.add_argument("--os-user", default="postgres", metavar="USER",
                       help="owner of the restored directory when run as root (default postgres)")
    group.add_argument("--wait", type=float, default=3600.0, metavar="SECONDS",
                       help="how long --start waits for the target (default 3600)")


def _program(args: argparse.Namespace) -> str:
    if args.program:
        return str(args.program)

    return str(Path(shutil.which("backup-console") or sys.argv[0]).absolute())


def run_restore_pitr(args: argparse.Namespace, settings: Settings, printer: Printer) -> int:
    from console.pitr.restore import RestoreOptions, check_destination, restore_to_target

    if args.backup or args.target_db or args.create or args.clean:
        raise UsageError("--pitr restores a whole cluster from base backups: it takes no BACKUP, --target-db, "
                         "--create or --clean")
    if not args.to:
        raise UsageError("--pitr needs --to DIR (the new data directory)")
    settings = one_instance(settings, "postgres", args.instance)  # its base backups, its archive, its server
    archive_dir = args.archive_dir or settings.postgres.wal_archive_dir
    if not archive_dir:
        raise UsageError("no WAL archive: pass --archive-dir or set postgres.wal_archive_dir")
    target = parse_target(args.target_time, args.target_lsn, args.target_name)
    options = RestoreOptions(Path(args.to).absolute(), start=args.start, port=args.port, in_place=args.in_place,
                             yes=args.yes, action=args.action, program=_program(args), os_user=args.os_user,
                             wait_seconds=args.wait)
    started = time.time()
    try:
        check_destination(options)
        plan = plan_restore(settings.root, Path(archive_dir), target, args.timeline, settings.postgres.bin_dir)
    except TargetRefused as exc:
        _record(settings, started, "refused", exc.message)
        if args.json:
            printer.err.write(json.dumps({"message_type": "exit_error", "code": int(exc.exit_code),
                                          "message": exc.message, "window": exc.window,
                                          **({"hint": exc.hint} if exc.hint else {})}) + "\n")
        else:
            printer.info(f"backup-console: error: {exc.message}")
            if exc.hint:
                printer.info(f"  hint: {exc.hint}")
        return int(exc.exit_code)
    if not args.json:
        printer.info(f"base backup {plan.base.set_id} (ends {plan.base.stop_time.isoformat()}), timeline "
                     f"{plan.timeline}, WAL {plan.base.metadata.get('start_wal_file')} .. "
                     f"{plan.chain.last_segment.name(plan.segment_size)} present; target {target.describe()}")
    try:
        outcome = restore_to_target(plan, options, settings.postgres, on_progress=printer.progress())
    except Exception as exc:
        _record(settings, started, "failed", str(exc))
        raise
    _record(settings, started, "ok", f"{target.describe()} from {plan.base.set_id} into {options.to}")
    if args.json:
        printer.data({"status": "ok", "plan": plan.as_json(), "result": outcome.as_json()})
        return ExitCode.OK
    printer.line(f"restored {plan.base.set_id} into {outcome.data_dir} ({outcome.bytes_restored} bytes)")
    if outcome.started:
        printer.line(f"recovery reached the target: {outcome.stop_message or '-'}")
        printer.line(f"running on port {outcome.port}: psql \"{outcome.connection}\"")
        printer.line(f"stop it with: pg_ctl -D {outcome.data_dir} stop")
    else:
        printer.line(f"next: pg_ctl -D {outcome.data_dir} -l {outcome.data_dir}/pitr-recovery.log start "
                     f"(as the cluster's OS user); it recovers to the target, then "
                     f"{'promotes' if options.action == 'promote' else 'pauses'} (port {outcome.port})")
    return ExitCode.OK


def _record(settings: Settings, started: float, status: str, message: str) -> None:
    record_run(settings.backup_dir, RunRecord(action="restore", kind="postgres", target="pitr", status=status,
                                              started=started, finished=time.time(), message=message,
                                              instance=settings.instance_of("postgres")))
