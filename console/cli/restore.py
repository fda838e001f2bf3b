"""``backup-console restore KIND ...``: each kind's restore face lives in console/cli/restore_<kind>.py.

Each provides ``register_kind(kind_subparsers, parents)``, adding its own parser whose handler
does the work. Restores refuse in read-only mode and need --yes to overwrite.
"""

from __future__ import annotations

import argparse

from console.cli import restore_certs, restore_config, restore_postgres, restore_rabbitmq, restore_redis

KIND_FACES = (restore_postgres, restore_redis, restore_rabbitmq, restore_config, restore_certs)


def register(subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "restore", help="restore a backup set (refused in read-only mode)",
        description="Restore a backup set. BACKUP is a set id (as `status`/`verify` list it, e.g. "
                    "postgres/mydb/20250101_020000, or postgres/analytics/mydb/20250101_020000 for the instance "
                    "analytics) or a path to one of the set's files. `restore postgres/analytics/mydb/<stamp>` "
                    "is short for `restore postgres postgres/analytics/mydb/<stamp>`.",
    )
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    for face in KIND_FACES:
        face.register_kind(kinds, parents)
    for kind_parser in set(kinds.choices.values()):
        kind_parser.add_argument("--instance", metavar="NAME",
                                 help="restore with this instance's settings (its server); default: the set's own")
