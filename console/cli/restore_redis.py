"""``backup-console restore redis BACKUP --data-dir DIR [--with-aof] [--yes] [--verify-load]``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from console.errors import ExitCode, ReadOnlyRefused
from console.sets import resolve_set, restore_scope

if TYPE_CHECKING:
    from console.cli.output import Printer
    from console.config import Settings

DESCRIPTION = """Place a Redis backup set's RDB (and, with --with-aof, its AOF) into the data
dir of a STOPPED Redis instance. The files are first checked against the
sha256 in the set's metadata and the RDB is validated (magic, version, CRC64,
redis-check-rdb). Existing files are replaced only with --yes and are kept as
<name>.before-restore-<ts>. Redis loads the AOF instead of dump.rdb when
appendonly is yes: restore with --with-aof for such an instance, or start it
once with appendonly no. --verify-load starts a throw-away redis-server on the
restored files and reports the keys it loaded. Refused in read-only mode.

exit codes: 0 restored, 1 failed (damaged file, running instance, load
failed), 2 usage error, read-only mode or confirmation needed (--yes)."""


def register_kind(kinds: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = kinds.add_parser("redis", parents=parents, help="place an RDB (and AOF) for a stopped Redis",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("backup", metavar="BACKUP", help="set id (redis/20250101_020000) or a path to one of its files")
    parser.add_argument("--data-dir", required=True, metavar="DIR", help="the stopped instance's data dir (its `dir`)")
    parser.add_argument("--with-aof", action="store_true", help="also place the AOF (appendonlydir/ or appendonly.aof)")
    parser.add_argument("--yes", action="store_true", help="replace files already in DIR (kept as *.before-restore-<ts>)")
    parser.add_argument("--allow-unverified", action="store_true",
                        help="restore a set backup-console wrote even though its metadata (checksums) is unusable")
    parser.add_argument("--verify-load", action="store_true",
                        help="load the restored files in a throw-away redis-server and report key counts")
    parser.set_defaults(handler=run_restore_redis)


def run_restore_redis(args: argparse.Namespace, settings: Settings, printer: Printer) -> int:
    from console.kinds.redis.restore import restore

    if settings.read_only:
        raise ReadOnlyRefused("restore redis")
    backup_set = resolve_set(settings, "redis", args.backup)
    settings = restore_scope(settings, backup_set, getattr(args, "instance", None))
    result = restore(settings, backup_set, Path(args.data_dir), with_aof=args.with_aof, yes=args.yes,
                     verify_load=args.verify_load, on_progress=printer.progress(),
                     allow_unverified=args.allow_unverified)
    if args.json:
        printer.data(result.as_json())
        return ExitCode.OK
    for check in result.checks:
        printer.info(f"  ok: {check}")
    for warning in result.warnings:
        printer.info(f"warning: {warning}")
    printer.line(f"restored {result.set_id} into {result.data_dir}")
    for path in result.placed:
        printer.line(f"  placed {path}")
    for path in result.kept_aside:
        printer.line(f"  kept the previous file as {path}")
    if result.verify is not None:
        printer.line(f"verify-load: {result.verify.message}")
    return ExitCode.OK
