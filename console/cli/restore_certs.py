"""``backup-console restore certs BACKUP --to DIR [--yes]``: decrypt and extract a certificate set."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from console.cli.cryptocmd import cli_passphrase
from console.errors import ExitCode, ReadOnlyRefused
from console.sets import resolve_set, restore_scope

if TYPE_CHECKING:
    from console.cli.output import Printer
    from console.config import Settings


def register_kind(kind_subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = kind_subparsers.add_parser(
        "certs", parents=parents, help="restore a certificate set into a directory",
        description="Decrypt certificates_<ts>.tar.gz.enc (ours, or the manual's openssl file) and extract it into "
                    "DIR, after checking every chunk and member. Paths escaping DIR are refused; existing files are "
                    "only overwritten with --yes. The key comes from BACKUP_ENCRYPTION_KEY, encryption.key_file or "
                    "a terminal prompt. Exit 0 restored, 1 failed (wrong key, corrupt set), 2 usage/config error, "
                    "read-only mode, or files exist without --yes.",
    )
    parser.add_argument("backup", metavar="BACKUP", help="set id (certs/20250101_020000) or a path to one of its files")
    parser.add_argument("--to", dest="to", type=Path, required=True, metavar="DIR", help="destination directory")
    parser.add_argument("--yes", action="store_true", help="overwrite files that already exist in DIR")
    parser.add_argument("--allow-unverified", action="store_true",
                        help="restore a set backup-console wrote even though its metadata (checksums) is unusable")
    parser.set_defaults(handler=run_restore_certs)


def run_restore_certs(args: argparse.Namespace, settings: Settings, printer: Printer) -> int:
    from console.kinds.certs.restore import restore_certs

    if settings.read_only:
        raise ReadOnlyRefused("restore certs")
    backup_set = resolve_set(settings, "certs", args.backup)
    settings = restore_scope(settings, backup_set, getattr(args, "instance", None))
    result = restore_certs(settings, backup_set, args.to, overwrite=args.yes, passphrase=cli_passphrase(settings),
                           on_progress=printer.progress(), allow_unverified=args.allow_unverified)
    if args.json:
        printer.data(result.as_json())
    else:
        printer.line(f"restored {backup_set.set_id} into {result.destination}: {len(result.files)} file(s)" +
                     (f", {len(result.overwritten)} overwritten" if result.overwritten else ""))
    return ExitCode.OK
