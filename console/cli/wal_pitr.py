"""``backup-console wal push|get|mark|prune``: the point-in-time recovery verbs under ``wal``.

``push`` and ``get`` are normally reached through console.pitr.walcmd's fast path (PostgreSQL
runs them once per segment); they are registered here too, for --help and for command lines
that put global options first.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from console.cli.targets import add_one_instance_argument, one_instance
from console.errors import ExitCode, ReadOnlyRefused, UsageError
from console.formatting import size
from console.lock import BackupLock
from console.pitr import walcmd
from console.pitr.prune import apply_wal_prune, plan_wal_prune
from console.runlog import RunRecord, record_run

if TYPE_CHECKING:
    from console.cli.output import Printer
    from console.config import Settings


def register_pitr(actions: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    """The PITR verbs: the per-segment push/get (normally reached through walcmd's fast path),
    plus mark and prune."""
    push = actions.add_parser(
        "push", help="archive one WAL file: use as archive_command",
        description="Archive one WAL file (PostgreSQL's %p) into the archive directory: temp name, fsync, "
                    "rename; its sha256 recorded beside it; zstd by default. Pushing an identical file again "
                    "succeeds, a different file under the same name is refused. Exit 0 archived, 1 failed, "
                    "2 usage.")
    walcmd.add_push_arguments(push)
    push.set_defaults(handler=_run_walcmd, wal_action="push")
    get = actions.add_parser(
        "get", help="restore one WAL file: use as restore_command",
        description="Copy one archived WAL file (%f) to %p, decompressed, checking its sha256. Exit 0 restored, "
                    "1 not in the archive (recovery ends there), 2 usage, 126 damaged (recovery aborts).")
    walcmd.add_get_arguments(get)
    get.set_defaults(handler=_run_walcmd, wal_action="get")
    mark = actions.add_parser(
        "mark", parents=parents, help="create a named restore point (pg_create_restore_point)",
        description="Create a named restore point on the server and record it under BACKUP_DIR/postgres/base (postgres@NAME/base with --instance), so "
                    "`restore postgres --pitr --target-name NAME` and the PITR screen know it. Exit 0 created, "
                    "1 server error, 2 usage or read-only.")
    mark.add_argument("name", metavar="NAME", help="the restore point's name (up to 63 characters)")
    mark.add_argument("--switch", action="store_true", help="also switch WAL so the point is archived now")
    add_one_instance_argument(mark)
    mark.set_defaults(handler=run_wal_mark)
    prune = actions.add_parser(
        "prune", parents=parents, help="remove archived WAL no kept base backup needs (preview first)",
        description="Plan which base backups to keep (--keep-base N newest, default all; the newest verified is "
                    "always kept) and which archived WAL files are older than the oldest kept base backup's start. "
                    "Without --yes only the preview is shown. The same WAL selection as `retention plan|apply`, "
                    "which decides base backups by the retention policy instead of --keep-base. Exit 0 done or "
                    "previewed, 2 usage or read-only, 11 locked (a retention apply runs).")
    prune.add_argument("--keep-base", type=int, metavar="N", help="keep the newest N base backups (default: all)")
    prune.add_argument("--archive-dir", metavar="DIR", help="WAL archive (default postgres.wal_archive_dir)")
    prune.add_argument("--dry-run", action="store_true", help="only show the plan (the default without --yes)")
    prune.add_argument("--yes", action="store_true", help="delete what the plan lists")
    add_one_instance_argument(prune)
    prune.set_defaults(handler=run_wal_prune)


def run_wal_mark(args: argparse.Namespace, settings: Settings, printer: Printer) -> int:
    from console.pitr.marks import create_restore_point

    point = create_restore_point(one_instance(settings, "postgres", args.instance), args.name, args.switch)
    if args.json:
        printer.data(point.as_json())
    else:
        printer.line(f"restore point {point.name!r} at {point.lsn} (timeline {point.timeline}, {point.time})")
    return ExitCode.OK


def run_wal_prune(args: argparse.Namespace, settings: Settings, printer: Printer) -> int:
    settings = one_instance(settings, "postgres", args.instance)
    archive_dir = args.archive_dir or settings.postgres.wal_archive_dir
    if not archive_dir:
        raise UsageError("no WAL archive: pass --archive-dir or set postgres.wal_archive_dir")
    if args.yes and args.dry_run:
        raise UsageError("--dry-run and --yes contradict each other")
    plan = plan_wal_prune(settings.root, Path(archive_dir), args.keep_base)
    apply = args.yes
    if apply and settings.read_only:
        raise ReadOnlyRefused("wal prune --yes")
    started = time.time()
    removed = 0
    if apply:
        with BackupLock(settings.backup_dir, "retention", "wal prune"):  # not beside a retention apply
            plan = plan_wal_prune(settings.root, Path(archive_dir), args.keep_base)
            removed = apply_wal_prune(plan)
        record_run(settings.backup_dir, RunRecord(
            action="retention", kind="postgres", target="wal", status="ok", instance=settings.instance_of("postgres"), started=started, finished=time.time(),
            message=f"removed {len(plan.remove_wal)} WAL file(s), {len(plan.remove_bases)} base backup(s), "
                    f"{plan.bytes_freed} bytes"))
    if args.json:
        printer.data({**plan.as_json(), "applied": apply, "removed": removed})
        return ExitCode.OK
    for base, reason in plan.keep_bases:
        printer.line(f"keep    {base.set_id}  ({reason})")
    for item in plan.remove_bases:
        printer.line(f"remove  {item.path}  {size(item.size_bytes)}  ({item.reason})")
    for wal_range in plan.selection.remove if plan.selection else []:
        printer.line(f"remove  WAL {wal_range.label}  {wal_range.count} file(s), {size(wal_range.size_bytes)}  "
                     f"({wal_range.reason})")
    for note in plan.notes:
        printer.line(f"note: {note}")
    printer.line(f"{'freed' if apply else 'would free'} {size(plan.bytes_freed)}"
                 + ("" if apply else "; run again with --yes to delete"))
    return ExitCode.OK


def _run_walcmd(args: argparse.Namespace, settings: Settings, printer: Printer) -> int:
    args.action = args.wal_action
    return walcmd.main([args.wal_action, *_walcmd_argv(args)])


def _walcmd_argv(args: argparse.Namespace) -> list[str]:
    argv = ["--archive-dir", args.archive_dir] if args.archive_dir else []
    if getattr(args, "config", None):
        argv += ["--config", args.config]
    if args.instance:
        argv += ["--instance", args.instance]
    if args.wal_action == "push":
        return argv + ["--compress", args.compress, "--level", str(args.level), *(["--s3"] if args.s3 else []),
                       args.path] + ([args.name] if args.name else [])
    return argv + [args.name, args.destination]
