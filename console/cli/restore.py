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
                    "postgres/mydb/20250101_020000) or a path to one of the set's files.",
    )
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    for face in KIND_FACES:
        face.register_kind(kinds, parents)


def resolve_set(settings, kind: str, reference: str):  # noqa: ANN001, ANN201 - shared by the restore_<kind> modules
    """Find a backup set by id or by the path of one of its files; UsageError when there is none."""
    from pathlib import Path

    from console.catalog import scan
    from console.errors import UsageError

    catalog = scan(settings.backup_dir, [kind])
    found = catalog.find(reference)
    if found is None:
        path = Path(reference).expanduser().absolute()
        found = next((s for s in catalog.sets if any(f.path.absolute() == path for f in s.files)), None)
        if found is None and path.exists():
            found = next((s for s in scan(path.parent.parent if path.parent.name == "archives" else path.parent.parent, [kind]).sets
                          if any(f.path.absolute() == path for f in s.files)), None)
    if found is None:
        known = ", ".join(s.set_id for s in catalog.by_kind(kind)[-3:]) or "none"
        raise UsageError(f"no {kind} backup set '{reference}' under {settings.backup_dir} (newest: {known})")
    return found
