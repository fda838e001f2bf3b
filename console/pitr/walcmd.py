"""``backup-console wal push`` and ``wal get``: the per-segment commands PostgreSQL runs.

console.cli routes these two verbs here before building its full parser, so a push costs a
Python start, argparse and hashlib (plus zstandard when compressing), not the whole console.
The configuration file is read only when --archive-dir is not given (or with --s3). A named
instance (``--instance NAME``) has its own archive (``postgres.instances.NAME.wal_archive_dir``,
by default ``BACKUP_DIR/postgres@NAME/wal``) and its own S3 keys.

Exit codes: 0 done, 1 failed or not in the archive (restore_command: recovery ends there),
2 usage or configuration error, 126 ``wal get`` found a damaged file (PostgreSQL aborts
recovery instead of ending it early).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

from console.errors import ConfigError, ConsoleError, ExitCode


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="backup-console wal", add_help=True)
    actions = parser.add_subparsers(dest="action", required=True)
    add_push_arguments(actions.add_parser("push", help="archive one WAL file (archive_command)"))
    add_get_arguments(actions.add_parser("get", help="restore one WAL file (restore_command)"))
    return parser


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--archive-dir", metavar="DIR",
                        help="the WAL archive; default postgres.wal_archive_dir from the configuration")
    parser.add_argument("--config", metavar="PATH", help="configuration file (read only without --archive-dir)")
    parser.add_argument("--instance", metavar="NAME",
                        help="the PostgreSQL instance whose archive this is (postgres.instances.NAME); default: "
                             "the default instance")


def add_push_arguments(parser: argparse.ArgumentParser) -> None:
    _add_common(parser)
    parser.add_argument("--compress", choices=("zstd", "none"), default="zstd",
                        help="compress segments with zstd (default) or store them as they are")
    parser.add_argument("--level", type=int, default=1, help="zstd level (default 1)")
    parser.add_argument("--s3", action="store_true",
                        help="also copy the file to the configured S3 bucket (postgres/wal/, or postgres@NAME/wal/ "
                             "with --instance); a failed copy fails "
                             "the push so PostgreSQL retries it")
    parser.add_argument("path", metavar="PATH", help="the file to archive (%%p)")
    parser.add_argument("name", metavar="NAME", nargs="?", help="its name in the archive (%%f; default: PATH's name)")


def add_get_arguments(parser: argparse.ArgumentParser) -> None:
    _add_common(parser)
    parser.add_argument("name", metavar="NAME", help="the WAL file wanted (%%f)")
    parser.add_argument("destination", metavar="PATH", help="where PostgreSQL wants it (%%p)")


def _settings(args: argparse.Namespace):  # noqa: ANN202 - Settings, loaded only when needed
    from console.config import load_settings  # not at the top: a push with --archive-dir never reads YAML

    settings = load_settings(args.config, os.environ, {})
    return settings.for_instance("postgres", args.instance) if args.instance else settings


def archive_dir(args: argparse.Namespace) -> Path:
    if args.archive_dir:
        return Path(args.archive_dir)
    settings = _settings(args)
    if not settings.postgres.wal_archive_dir:
        raise ConfigError("no WAL archive directory: pass --archive-dir or set postgres.wal_archive_dir")
    return Path(settings.postgres.wal_archive_dir)


def run(args: argparse.Namespace) -> int:
    from console.pitr import archive

    if args.action == "push":
        directory = archive_dir(args)
        pushed = archive.push(Path(args.path), directory, args.name, None if args.compress == "none" else "zstd",
                              args.level)
        if args.s3:
            from console.pitr.s3copy import copy_to_s3

            copy_to_s3(_settings(args), [directory / (pushed.name + archive.SUFFIX_SUM), pushed.stored_as])
        return ExitCode.OK
    result = archive.get(args.name, Path(args.destination), archive_dir(args))
    if not result.checked:
        sys.stderr.write(f"backup-console wal get: note: {args.name} has no recorded sha256 (archived by another "
                         "tool); restored unchecked\n")
    return ExitCode.OK


def main(argv: Sequence[str]) -> int:
    """``argv`` starts at ``push`` or ``get``."""
    args = build_parser().parse_args(list(argv))
    try:
        return run(args)
    except ConsoleError as exc:
        quiet = type(exc).__name__ == "WalMissing"  # PostgreSQL asks for files that do not exist yet, often
        if not quiet or os.environ.get("BACKUP_CONSOLE_DEBUG"):
            hint = f" (hint: {exc.hint})" if exc.hint else ""
            sys.stderr.write(f"backup-console wal {args.action}: error: {exc.message}{hint}\n")
        return int(exc.exit_code)
    except OSError as exc:
        sys.stderr.write(f"backup-console wal {args.action}: error: {exc.filename or '?'}: {exc.strerror or exc}\n")
        return ExitCode.FAILED
    except Exception as exc:  # noqa: BLE001 - a bug: one line, never a traceback in the server log
        sys.stderr.write(f"backup-console wal {args.action}: internal error: {type(exc).__name__}: {exc}\n")
        return ExitCode.FAILED


def fast_path(argv: Sequence[str]) -> list[str] | None:
    """``['wal', 'push', ...]`` -> ``['push', ...]``; None for any other command line."""
    if len(argv) >= 2 and argv[0] == "wal" and argv[1] in ("push", "get"):
        return list(argv[1:])
    return None
