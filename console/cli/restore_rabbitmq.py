"""``backup-console restore rabbitmq BACKUP [--vhost V] [--yes]``: preview, then import definitions."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from console.errors import ExitCode, ReadOnlyRefused
from console.sets import resolve_set, restore_scope

if TYPE_CHECKING:
    from console.cli.output import Printer
    from console.config import Settings

DESCRIPTION = """Import a RabbitMQ backup set's definitions (vhosts, users, permissions,
exchanges, queues, bindings, policies, parameters) through the management API.
Without --yes it only prints a preview: what the import would create, and what
it would overwrite (an import is additive: it never deletes, but it replaces
objects of the same name, e.g. a user's password hash). --vhost limits a full
backup to one vhost (with the users holding permissions on it), or names the
vhost a single-vhost backup goes into. Messages are not in the backup: queues
come back empty. The import (--yes) is refused in read-only mode.

exit codes: 0 previewed or imported, 1 failed (API error, wrong credentials),
2 usage error or read-only mode."""


def register_kind(kinds: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = kinds.add_parser("rabbitmq", parents=parents, help="preview, then import RabbitMQ definitions",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("backup", metavar="BACKUP", help="set id (rabbitmq/20250101_020000) or a path to one of its files")
    parser.add_argument("--vhost", metavar="V", help="restore only this vhost (or import a single-vhost backup into V)")
    parser.add_argument("--yes", action="store_true", help="do the import after the preview")
    parser.set_defaults(handler=run_restore_rabbitmq)


def run_restore_rabbitmq(args: argparse.Namespace, settings: Settings, printer: Printer) -> int:
    from console.kinds.rabbitmq.restore import apply_import, plan_import

    if args.yes and settings.read_only:
        raise ReadOnlyRefused("restore rabbitmq")
    backup_set = resolve_set(settings, "rabbitmq", args.backup)
    settings = restore_scope(settings, backup_set, getattr(args, "instance", None))
    plan = plan_import(settings, backup_set, args.vhost)
    if not args.yes:
        if args.json:
            printer.data({**plan.as_json(), "applied": False})
        else:
            for line in plan.lines():
                printer.line(line)
            printer.info("preview only: nothing was imported; re-run with --yes to import")
        return ExitCode.OK
    apply_import(settings, plan, printer.progress())
    if args.json:
        printer.data({**plan.as_json(), "applied": True})
    else:
        for line in plan.lines():
            printer.line(line)
        printer.line(f"imported the definitions of {plan.set_id} ({plan.scope})")
    return ExitCode.OK
