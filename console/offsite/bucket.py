"""Offsite backup sets as retention sees them: the bucket's objects grouped into sets.

Keys follow console.offsite.keys: ``<kind>[@<instance>]/[<db>/]<ts>/<object>`` below the bucket's
(or an instance's own) prefix. Only keys whose set
directory ends in a valid ``YYYYmmdd_HHMMSS`` stamp form sets; any other key (WAL segments,
an operator's files) is reported as stray and never deleted by retention.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable

from console.instances import DEFAULT, set_id_of
from console.layout import parse_stamp
from console.offsite import keys
from console.retention.storage import S3Storage

if TYPE_CHECKING:
    from console.config import Settings


@dataclass(frozen=True)
class OffsiteSet:
    """One set's objects in the bucket."""

    kind: str
    name: str
    timestamp: datetime
    keys: tuple[str, ...]
    size_bytes: int
    storage_classes: tuple[str, ...]
    instance: str = DEFAULT
    directory: str = ""
    last_modified: datetime | None = None

    @property
    def stamp(self) -> str:
        return self.timestamp.strftime("%Y%m%d_%H%M%S")

    @property
    def set_id(self) -> str:
        return set_id_of(self.kind, self.name, self.stamp, self.instance)

    @property
    def target_key(self) -> tuple[str, str, str]:
        return (self.kind, self.instance, self.name)

    @property
    def is_backup(self) -> bool:
        return True

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "instance": self.instance, "name": self.name, "stamp": self.stamp,
                "set_id": self.set_id, "prefix": self.directory, "objects": len(self.keys),
                "size_bytes": self.size_bytes, "storage_classes": list(self.storage_classes),
                "last_modified": self.last_modified.isoformat(timespec="seconds") if self.last_modified else None,
                "keys": list(self.keys)}


def parse_key(key: str, prefix: str, default_database: str = "") -> tuple[str, str, str] | None:
    """(kind, name, stamp) of an object key, or None when it is not a backup-set object."""
    found = keys.parse_key(key, prefix, default_database)
    return None if found is None else (found.kind, found.name, found.stamp)


def group_objects(objects: Iterable[dict[str, Any]], prefix: str | list[str],
                  default_database: str = "") -> tuple[list[OffsiteSet], list[str]]:
    """Group list_objects_v2 entries into sets; also return the keys that belong to none."""
    groups, stray = keys.group_keys(objects, [prefix] if isinstance(prefix, str) else prefix, default_database)
    sets = []
    for found, members in groups.items():
        modified = [o["LastModified"] for o in members if o.get("LastModified")]
        sets.append(OffsiteSet(found.kind, found.name, parse_stamp(found.stamp), tuple(sorted(o["Key"] for o in members)),
                               sum(int(o.get("Size", 0)) for o in members),
                               tuple(sorted({str(o.get("StorageClass", "STANDARD")) for o in members})),
                               found.instance, found.directory, max(modified) if modified else None))
    sets.sort(key=lambda item: (item.timestamp, item.kind, item.instance, item.name))
    return sets, stray


def list_offsite_sets(settings: Settings, client: Any | None = None) -> tuple[list[OffsiteSet], list[str]]:
    """List the bucket's sets below every prefix that may hold them (raises botocore errors; callers describe them)."""
    from console.probes.s3 import make_client

    client = client or make_client(settings, timeout=max(settings.timeout_seconds, 10.0), retries=3)
    prefixes = keys.offsite_prefixes(settings)
    objects: dict[str, dict[str, Any]] = {}
    for prefix in prefixes:  # nested prefixes list some keys twice: one entry per key
        for obj in S3Storage(client, settings.s3.bucket, prefix).list_objects():
            objects[obj["Key"]] = obj
    return group_objects(objects.values(), prefixes, settings.postgres.database)
