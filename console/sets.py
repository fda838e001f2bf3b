"""Finding a backup set from what an operator types: a set id, the path of one of its files, or
"the newest of a kind". Restore, upload and verify all resolve sets here."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from console.catalog import KINDS, BackupSet, scan
from console.errors import UsageError

if TYPE_CHECKING:
    from console.config import Settings


def kind_of(reference: str) -> str | None:
    """The kind a set id (``postgres/app/<ts>``) or a file path under ``BACKUP_DIR/<kind>/`` names."""
    kind = reference.split("/", 1)[0]
    if kind in KINDS:
        return kind
    path = Path(reference).expanduser().absolute()
    kind = path.parent.parent.name if path.parent.name == "archives" else path.parent.name
    return kind if kind in KINDS else None


def resolve_set(settings: Settings, kind: str, reference: str) -> BackupSet:
    """Find a set of ``kind`` by id or by the path of one of its files; UsageError when there is none.

    A path outside BACKUP_DIR is accepted when the set around it is complete (a copy brought back
    from S3 or another host).
    """
    catalog = scan(settings.backup_dir, [kind])
    found = catalog.find(reference)
    if found is None:
        path = Path(reference).expanduser().absolute()
        found = _holding(catalog.sets, path)
        if found is None and path.exists():
            elsewhere = path.parent.parent.parent if path.parent.name == "archives" else path.parent.parent
            found = _holding(scan(elsewhere, [kind]).sets, path)
    if found is None:
        known = ", ".join(s.set_id for s in catalog.by_kind(kind)[-3:]) or "none"
        raise UsageError(f"no {kind} backup set '{reference}' under {settings.backup_dir} (newest: {known})")
    return found


def resolve_any(settings: Settings, reference: str) -> BackupSet:
    """A set of whatever kind its id or path names."""
    kind = kind_of(reference)
    if kind is None:
        raise UsageError(f"'{reference}' is neither a set id (kind/...) nor a file under BACKUP_DIR/<kind>/")
    return resolve_set(settings, kind, reference)


def newest_set(settings: Settings, kind: str) -> BackupSet:
    found = scan(settings.backup_dir, [kind]).latest(kind)
    if found is None:
        raise UsageError(f"no {kind} backup under {settings.backup_dir}")
    return found


def restore_scope(settings: Settings, backup_set: BackupSet, instance: str | None = None) -> Settings:
    """The settings a restore of ``backup_set`` speaks with: those of the instance named (``--instance``),
    else of the set's own instance. A set whose instance is no longer configured names where to restore."""
    name = instance or backup_set.instance
    configured = [item.name for item in settings.instances_of(backup_set.kind)]
    if instance is None and name not in configured:
        raise UsageError(f"{backup_set.set_id} belongs to the {backup_set.kind} instance '{name}', which is not "
                         f"configured: choose where to restore it with --instance ({', '.join(configured)})")
    return settings.for_instance(backup_set.kind, name)


def _holding(sets: list[BackupSet], path: Path) -> BackupSet | None:
    return next((s for s in sets if any(f.path.absolute() == path for f in s.files)), None)
