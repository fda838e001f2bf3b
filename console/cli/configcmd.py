"""``backup-console config show|example``: the resolved settings with their sources."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from console.errors import ExitCode

if TYPE_CHECKING:
    from console.cli.output import Printer
    from console.config import Settings


def register(subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("config", help="show the resolved configuration",
                                   description="Inspect the configuration.")
    verbs = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = verbs.add_parser("show", parents=parents, help="every setting with its value and source (secrets masked)",
                            description="Print every setting with its value and where it came from: default, "
                                        "file:line, env VARIABLE or flag. Secrets are masked.")
    show.set_defaults(handler=run_show)
    example = verbs.add_parser("example", parents=parents[:1], help="print a documented example configuration file")
    example.set_defaults(handler=run_example)


def run_show(args: argparse.Namespace, settings: Settings, printer: Printer) -> int:
    values = settings.describe()
    if args.json:
        printer.data({
            "config_file": str(settings.config_path) if settings.config_path else None,
            "settings": {value.key: {"value": value.value, "source": value.source} for value in values},
        })
        return ExitCode.OK
    printer.line(f"config file: {settings.config_path or 'none (built-in defaults)'}")
    printer.table(["key", "value", "source"], [[v.key, _shown(v.value), v.source] for v in values])
    return ExitCode.OK


def _shown(value: object) -> str:
    if value == "" or value == [] or value == {}:
        return "-"
    return str(value)


def run_example(args: argparse.Namespace, settings: Settings, printer: Printer) -> int:
    from console.config import example_yaml

    printer.line(example_yaml().rstrip("\n"))
    return ExitCode.OK
