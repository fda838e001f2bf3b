"""Targets as operators write them: ``kind[/instance[/database]]``.

argparse chooses a sub-command by its exact name, so ``backup postgres/analytics/shop`` is
rewritten before parsing into ``backup postgres --instance analytics --db shop``, and
``restore postgres/main/shop/<stamp>`` into ``restore postgres postgres/main/shop/<stamp>`` (the
set id names its kind). Everything else in the CLI sees plain flags.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Sequence

from console.errors import UsageError
from console.instances import split_target

if TYPE_CHECKING:
    from console.config import Instance, Settings

_VALUED_GLOBALS = ("--config",)


def expand_argv(argv: Sequence[str], kinds: Sequence[str]) -> list[str]:
    """``backup KIND/INSTANCE[/DB]`` and ``restore KIND/...`` (a set id) rewritten into flags."""
    args = list(argv)
    command_at = _first_positional(args, 0)
    if command_at is None or args[command_at] not in ("backup", "restore"):
        return args
    kind_at = _first_positional(args, command_at + 1)
    if kind_at is None or "/" not in args[kind_at]:
        return args
    text = args[kind_at]
    kind = text.split("/", 1)[0]
    if kind not in kinds:
        return args  # argparse names the valid kinds
    if args[command_at] == "restore":
        return args[:kind_at] + [kind, text] + args[kind_at + 1:]
    try:
        target = split_target(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    extra = ["--instance", target.instance or ""] + (["--db", target.database] if target.database else [])
    return args[:kind_at] + [kind] + extra + args[kind_at + 1:]


def add_one_instance_argument(parser: argparse.ArgumentParser, kind: str = "postgres") -> None:
    """``--instance NAME``: the one instance a command works on (default: the default instance)."""
    parser.add_argument("--instance", metavar="NAME",
                        help=f"the {kind} instance to work on ({kind}.instances.NAME in the config file); "
                             "default: the default instance")


def one_instance(settings: Settings, kind: str, name: str | None) -> Settings:
    """The settings scoped to ``--instance NAME`` (UsageError naming the configured ones), else as they are."""
    return settings.for_instance(kind, name) if name else settings


def command_of(argv: Sequence[str]) -> str | None:
    """The sub-command an argument list names (its first positional argument), if any."""
    args = list(argv)
    at = _first_positional(args, 0)
    return None if at is None else args[at]


def _first_positional(args: list[str], start: int) -> int | None:
    index = start
    while index < len(args):
        arg = args[index]
        if arg in _VALUED_GLOBALS:
            index += 2
            continue
        if arg == "--":
            return None
        if not arg.startswith("-"):
            return index
        index += 1
    return None


def add_instance_arguments(parser: argparse.ArgumentParser, what: str = "back up") -> None:
    parser.add_argument("--instance", action="append", dest="instances", metavar="NAME",
                        help=f"the instance to {what} (repeatable; KIND/NAME says the same); "
                             "required when the kind has several, unless --all")
    parser.add_argument("--all", action="store_true", dest="all_instances",
                        help=f"{what} every configured instance of the kind")
    parser.add_argument("--tag", action="append", dest="tags", metavar="TAG[=VALUE]",
                        help="with --all: only instances carrying this tag (repeatable: all must match)")


def chosen_instances(args: argparse.Namespace, settings: Settings, kind: str) -> list[Instance]:
    """The instances a command names: ``--instance`` (or KIND/NAME), ``--all`` (with ``--tag``), or the
    only one configured. Several configured and none named is a usage error naming them."""
    configured = settings.instances_of(kind)
    names = [name for name in (getattr(args, "instances", None) or []) if name is not None]
    tags = getattr(args, "tags", None) or []
    if getattr(args, "all_instances", False):
        if names:
            raise UsageError("--all and --instance (or KIND/NAME) exclude each other")
        chosen = [instance for instance in configured if all(instance.matches(tag) for tag in tags)]
        if not chosen:
            raise UsageError(f"no {kind} instance carries {' and '.join(tags)}: "
                             f"configured: {', '.join(_described(i) for i in configured)}")
        return chosen
    if tags:
        raise UsageError("--tag goes with --all")
    if names:
        return [settings.instance(kind, name or "") for name in names]
    if len(configured) == 1:
        return list(configured)
    raise UsageError(f"{kind} has {len(configured)} instances ({', '.join(i.name for i in configured)}): name one "
                     f"({kind}/{configured[0].name}) or use --all")


def _described(instance: Instance) -> str:
    tags = ",".join(f"{key}={value}" for key, value in instance.tags.items())
    return f"{instance.name}[{tags}]" if tags else instance.name
