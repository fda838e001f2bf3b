"""Where a set's objects live in the bucket, and reading that back from a key.

``<prefix><kind>[@<instance>]/[<name>/]<YYYYmmdd_HHMMSS>/<object>``: the manual's layout for the
default instance (``postgres/<ts>/backup.dump``, ``redis/<ts>/snapshot.rdb.gz``), and the same below
``<kind>@<instance>/`` for a named one (under its own ``s3_prefix`` when it sets one). Uploading,
listing and retention all read keys here, so they can never disagree about what is a set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable

from console.config import SECTION_OF_KIND
from console.instances import DEFAULT, dir_name, parse_dir_name
from console.kinds.layouts import LAYOUTS
from console.layout import TIMESTAMP_FORMAT, parse_stamp

if TYPE_CHECKING:
    from console.catalog import BackupSet
    from console.config import Settings


def bucket_prefix(settings: Settings) -> str:
    """The configured prefix as a key prefix ("prod" and "prod/" both give "prod/")."""
    prefix = settings.s3.prefix.strip("/")
    return f"{prefix}/" if prefix else ""


def instance_prefix(settings: Settings, kind: str, instance: str) -> str:
    """The key prefix of an instance's sets: its own ``s3_prefix``, else the bucket's."""
    for item in settings.instances.get(kind, ()):
        if item.name == instance and item.s3_prefix:
            return item.s3_prefix.strip("/") + "/"
    return bucket_prefix(settings)


def offsite_prefixes(settings: Settings) -> list[str]:
    """Every prefix that may hold sets: the bucket's, then each instance's own."""
    prefixes = [bucket_prefix(settings)]
    for kind in SECTION_OF_KIND:
        for item in settings.instances.get(kind, ()):
            own = instance_prefix(settings, kind, item.name)
            if own not in prefixes:
                prefixes.append(own)
    return prefixes


def set_directory(settings: Settings, backup_set: BackupSet) -> str:
    """The key directory of a set, e.g. ``prod/postgres/20261125_020000/`` or ``prod/redis@cache/<ts>/``."""
    parts = [dir_name(backup_set.kind, backup_set.instance)]
    if backup_set.name and not (backup_set.kind == "postgres" and backup_set.instance == DEFAULT
                                and _only_database(settings, backup_set.name)):
        parts.append(backup_set.name)
    parts.append(backup_set.stamp)
    return instance_prefix(settings, backup_set.kind, backup_set.instance) + "/".join(parts) + "/"


def _only_database(settings: Settings, name: str) -> bool:
    """The manual's ``postgres/<ts>/``: the default instance's one configured database goes unnamed."""
    configured = list(settings.postgres.databases)
    return name == settings.postgres.database and configured in ([], [name])


@dataclass(frozen=True)
class SetKey:
    """What a key says about its set."""

    kind: str
    instance: str
    name: str
    stamp: str
    directory: str


def parse_key(key: str, prefix: str, default_database: str = "") -> SetKey | None:
    """The set an object key belongs to, or None for any other key (WAL, fleet records, an operator's files)."""
    if prefix and not key.startswith(prefix):
        return None
    parts = key[len(prefix):].split("/")
    if len(parts) < 3:
        return None
    parsed = parse_dir_name(parts[0])
    if parsed is None or parsed[0] not in LAYOUTS:
        return None
    stamp = parts[-2]
    if len(stamp) != 15:
        return None
    try:
        datetime.strptime(stamp, TIMESTAMP_FORMAT)
        parse_stamp(stamp)
    except (ValueError, OverflowError):
        return None
    kind, instance = parsed
    name = "/".join(parts[1:-2])
    if kind == "postgres" and not name:
        name = default_database
    return SetKey(kind, instance, name, stamp, prefix + "/".join(parts[:-1]) + "/")


def group_keys(objects: Iterable[dict[str, Any]], prefixes: list[str],
               default_database: str = "") -> tuple[dict[SetKey, list[dict[str, Any]]], list[str]]:
    """list_objects_v2 entries grouped by set (the longest matching prefix decides); keys of no set apart."""
    ordered = sorted(prefixes, key=len, reverse=True)
    groups: dict[SetKey, list[dict[str, Any]]] = {}
    stray: list[str] = []
    for obj in objects:
        found = None
        for prefix in ordered:
            if obj["Key"].startswith(prefix):
                found = parse_key(obj["Key"], prefix, default_database)
                break
        if found is None:
            stray.append(obj["Key"])
        else:
            groups.setdefault(found, []).append(obj)
    return groups, stray
