"""Offsite backup sets as retention sees them: the bucket's objects grouped into sets.

Keys follow console.offsite.upload's layout below the bucket prefix: ``<kind>/<ts>/<object>``, or
``postgres/<db>/<ts>/<object>`` when several databases are backed up. Only keys whose set
directory ends in a valid ``YYYYmmdd_HHMMSS`` stamp form sets; any other key (WAL segments,
an operator's files) is reported as stray and never deleted by retention.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable

from console.catalog import KINDS

from console.layout import parse_stamp
from console.offsite.upload import bucket_prefix

if TYPE_CHECKING:
    from console.config import Settings

_STAMP = re.compile(r"^\d{8}_\d{6}$")


@dataclass(frozen=True)
class OffsiteSet:
    kind: str
    name: str
    timestamp: datetime
    keys: tuple[str, ...]
    size_bytes: int
    storage_classes: tuple[str, ...]

    @property
    def stamp(self) -> str:
        return self.timestamp.strftime("%Y%m%d_%H%M%S")

    @property
    def set_id(self) -> str:
        return f"{self.kind}/{self.name}/{self.stamp}" if self.name else f"{self.kind}/{self.stamp}"

    @property
    def is_backup(self) -> bool:
        return True


def parse_key(key: str, prefix: str, default_database: str = "") -> tuple[str, str, str] | None:
    """(kind, name, stamp) of an object key, or None when it is not a backup-set object."""
    if prefix and not key.startswith(prefix):
        return None
    parts = key[len(prefix):].split("/")
    if len(parts) < 3 or parts[0] not in KINDS or not _STAMP.match(parts[-2]):
        return None
    try:
        parse_stamp(parts[-2])
    except ValueError:
        return None
    name = "/".join(parts[1:-2])
    if parts[0] == "postgres" and not name:
        name = default_database
    return parts[0], name, parts[-2]


def group_objects(objects: Iterable[dict[str, Any]], prefix: str,
                  default_database: str = "") -> tuple[list[OffsiteSet], list[str]]:
    """Group list_objects_v2 entries into sets; also return the keys that belong to none."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    stray: list[str] = []
    for obj in objects:
        parsed = parse_key(obj["Key"], prefix, default_database)
        if parsed is None:
            stray.append(obj["Key"])
        else:
            groups.setdefault(parsed, []).append(obj)
    sets = [OffsiteSet(kind, name, parse_stamp(stamp), tuple(sorted(o["Key"] for o in members)),
                       sum(int(o.get("Size", 0)) for o in members),
                       tuple(sorted({str(o.get("StorageClass", "STANDARD")) for o in members})))
            for (kind, name, stamp), members in groups.items()]
    sets.sort(key=lambda item: (item.timestamp, item.kind, item.name))
    return sets, stray


def list_offsite_sets(settings: Settings, client: Any | None = None) -> tuple[list[OffsiteSet], list[str]]:
    """List the bucket's sets below the prefix (raises botocore errors; callers describe them)."""
    from console.probes.s3 import make_client
    from console.retention.storage import S3Storage

    client = client or make_client(settings, timeout=max(settings.timeout_seconds, 10.0), retries=3)
    prefix = bucket_prefix(settings)
    storage = S3Storage(client, settings.s3.bucket, prefix)
    return group_objects(storage.list_objects(), prefix, settings.postgres.database)
