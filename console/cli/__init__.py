"""The ``backup-console`` command: the TUI by default, every action a headless sub-command.

Each verb lives in its own module (listed in ``console.cli.verbs``) exposing ``register(subparsers, parents)``;
the parser it adds sets ``handler(args, settings, printer) -> int``. Errors are turned into
exit codes here and only here (console.errors.exit_code_for).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from console import __version__
from console.errors import ConsoleError, ExitCode, describe_unexpected, exit_code_for


EXIT_CODES_HELP = """exit codes:
  0   ok
  1   failed (a check, a backup, a service down)
  2   usage or configuration error
  3   partial (some targets failed)
  11  locked (the same backup is already running)
  130 interrupted
"""


def build_parser(verbs: bool = True, command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; ``verbs=False`` leaves the sub-commands out (``backup-console`` alone opens
    the console, and its first frame need not wait for every verb's imports: 0.1-0.2 s); ``command``, when it
    names a sub-command, registers only that one (what argparse would pick anyway)."""
    parser = argparse.ArgumentParser(
        prog="backup-console",
        description="Back up and verify PostgreSQL, Redis, RabbitMQ, configuration and TLS certificates. "
                    "With no command, opens the interactive console.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"backup-console {__version__}")
    _add_global_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _add_global_options(common, suppress=True)
    json_parent = argparse.ArgumentParser(add_help=False)
    json_parent.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    if not verbs:
        return parser
    from console.cli.verbs import verb_modules  # here, not at the top: `wal push` runs per WAL segment without them

    for verb in verb_modules(command):
        verb.register(subparsers, [common, json_parent])
    _add_exit_codes_to_leaves(parser)
    return parser


EXIT_CODES_LINE = ("Exit codes: 0 ok, 1 failed (a check, a backup, a service down), 2 usage or configuration error, "
                   "3 partial, 11 locked (already running), 130 interrupted.")


def _add_exit_codes_to_leaves(parser: argparse.ArgumentParser) -> None:
    """Every command's --help names its exit codes; verbs that word their own keep them."""
    groups = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    if not groups:
        worded = f"{parser.description or ''} {parser.epilog or ''}".lower()
        if "exit" not in worded:
            parser.epilog = f"{parser.epilog} {EXIT_CODES_LINE}" if parser.epilog else EXIT_CODES_LINE
        return
    for group in groups:
        for child in set(group.choices.values()):
            _add_exit_codes_to_leaves(child)


def _add_global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """Global flags work before or after the sub-command (``--read-only backup ...`` or ``backup ... --read-only``)."""
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("--config", metavar="PATH", default=default, help="configuration file (YAML)")
    parser.add_argument("--read-only", action="store_true", default=argparse.SUPPRESS if suppress else False,
                        help="refuse every destructive action")
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS if suppress else False,
                        help="show tracebacks of internal errors")


def needs_verbs(given: Sequence[str], command: str | None) -> bool:
    """Whether the parser must know the sub-commands: a command was named, or --help lists them. The
    console alone (``backup-console [--config FILE] [--read-only]``) needs none of their imports."""
    return command is not None or any(arg in ("-h", "--help") for arg in given)


def main(argv: Sequence[str] | None = None) -> int:
    from console.pitr.walcmd import fast_path

    wal_argv = fast_path(sys.argv[1:] if argv is None else argv)
    if wal_argv is not None:  # PostgreSQL runs these once per WAL segment: skip loading every verb
        from console.pitr.walcmd import main as wal_main

        return wal_main(wal_argv)
    from console.cli.output import Printer

    given = sys.argv[1:] if argv is None else list(argv)
    from console.cli.targets import command_of, expand_argv

    command = command_of(given)
    parser = build_parser(verbs=needs_verbs(given, command), command=command)
    if command in ("backup", "restore"):  # the only commands that take KIND/... targets
        from console.kinds.registry import KINDS

        try:
            argv = expand_argv(given, list(KINDS))
        except ConsoleError as exc:
            parser.error(exc.message)
    args = parser.parse_args(argv)
    json_mode = bool(getattr(args, "json", False))
    printer = Printer(json_mode=json_mode)
    try:
        settings = load(args)
        if args.command is None:
            from console.cli.tui import launch

            return launch(settings)
        return int(args.handler(args, settings, printer))
    except ConsoleError as exc:
        printer.fatal(exc.message, exc.hint, exit_code_for(exc))
        return exit_code_for(exc)
    except KeyboardInterrupt:
        printer.fatal("interrupted", None, ExitCode.INTERRUPTED)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.FAILED
    except OSError as exc:  # the file system refused (missing dir, permissions, full disk): name the place
        if args.debug:
            raise
        printer.fatal(describe_unexpected(exc), "check the path, its permissions and free space", ExitCode.FAILED)
        return ExitCode.FAILED
    except Exception as exc:  # a bug: one line unless --debug
        if args.debug:
            raise
        printer.fatal(f"internal error: {type(exc).__name__}: {exc}", "run again with --debug for the traceback",
                      ExitCode.FAILED)
        return ExitCode.FAILED


def load(args: argparse.Namespace):  # noqa: ANN201 - returns Settings; imported lazily for start-up time
    from console.config import load_settings

    overrides = {"read_only": True} if args.read_only else {}
    return load_settings(args.config, os.environ, overrides)


def entry() -> None:
    """The ``backup-console`` process (the installed script and ``python -m console.cli``); tests call main().

    Python's cyclic collector walks every tracked object on each full collection and once more at exit.
    With 10,000 sets in the catalog that was 0.3-0.5 s of a ``status`` run and 0.3-0.8 s after it
    (bench/README.md, "Imports and the collector"). A larger first threshold makes full collections
    rare (cycles are still collected); freezing what is alive before exit skips the final walk: the
    process ends, so those objects would only be freed by the operating system anyway.
    """
    import gc

    gc.set_threshold(20_000, 10, 10)
    code = main()
    gc.freeze()
    sys.exit(code)
