"""``backup-console restore config BACKUP --to DIR [--yes]``: the tarball extracted and the
secrets decrypted into DIR; refuses to overwrite without --yes and in read-only mode."""

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
        "config", parents=parents, help="restore a configuration set into a directory",
        description="Check the set's checksums, then extract config_<ts>.tar.gz and decrypt each <name>_<ts>.enc "
                    "(or the manual's .env*.enc) into DIR. Paths escaping DIR are refused; existing files are only "
                    "overwritten with --yes. The key comes from BACKUP_ENCRYPTION_KEY, encryption.key_file or a "
                    "terminal prompt. Exit 0 restored, 1 failed (wrong key, corrupt set), 2 usage/config error, "
                    "read-only mode, or files exist without --yes.",
    )
    parser.add_argument("backup", metavar="BACKUP", help="set id (config/20250101_020000) or a path to one of its files")
    parser.add_argument("--to", dest="to", type=Path, required=True, metavar="DIR", help="destination directory")
    parser.add_argument("--yes", action="store_true", help="overwrite files that already exist in DIR")
    parser.add_argument("--allow-unverified", action="store_true",
                        help="restore a set backup-console wrote even though its metadata (checksums) is unusable")
    parser.set_defaults(handler=run_restore_config)


def run_restore_config(args: argparse.Namespace, settings: Settings, printer: Printer) -> int:
    from console.kinds.config.restore import restore_config, secret_targets

    if settings.read_only:
        raise ReadOnlyRefused("restore config")
    backup_set = resolve_set(settings, "config", args.backup)
    settings = restore_scope(settings, backup_set, getattr(args, "instance", None))
    passphrase = cli_passphrase(settings) if secret_targets(backup_set) else None
    result = restore_config(settings, backup_set, args.to, overwrite=args.yes, passphrase=passphrase,
                            on_progress=printer.progress(), allow_unverified=args.allow_unverified)
    if args.json:
        printer.data(result.as_json())
    else:
        printer.line(f"restored {backup_set.set_id} into {result.destination}: {len(result.files)} file(s), "
                     f"{len(result.secrets)} decrypted secret(s)" +
                     (f", {len(result.overwritten)} overwritten" if result.overwritten else ""))
    return ExitCode.OK
