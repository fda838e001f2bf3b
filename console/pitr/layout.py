"""Where PITR files live under BACKUP_DIR, and reading them back.

    postgres/base/<YYYYmmdd_HHMMSS>/base.tar.zst     the cluster as pg_basebackup's tar, zstd
                                     (base.tar.lz4 or .zst compressed by the server, with
                                     postgres.base_compression server-lz4/server-zstd)
    postgres/base/<YYYYmmdd_HHMMSS>/backup_manifest   pg_basebackup's manifest (pg_verifybackup)
    postgres/base/<YYYYmmdd_HHMMSS>/backup.json       metadata, written last
    postgres/base/restore-points.jsonl                named restore points (``wal mark``)

A named instance has the same under ``postgres@<name>/base/``, and its WAL archive defaults to
``postgres@<name>/wal/`` (console.config). Functions here take BACKUP_DIR (the default instance)
or a BackupRoot scoped to an instance (``settings.root``). The catalog of logical sets reads
``postgres/`` one level deep, so these stay out of its way.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Union

from console.instances import DEFAULT, set_id_of
from console.root import BackupRoot

TAR_NAME = "base.tar.zst"
MANIFEST_NAME = "backup_manifest"
METADATA_NAME = "backup.json"
RESTORE_POINTS = "restore-points.jsonl"
STAMP = re.compile(r"^\d{8}_\d{6}$")


Where = Union[Path, BackupRoot]
"""BACKUP_DIR (the default instance's PITR files) or a root scoped to an instance."""


def as_root(where: Where) -> BackupRoot:
    return where if isinstance(where, BackupRoot) else BackupRoot(where)


def instance_of(where: Where) -> str:
    return as_root(where).instances.get("postgres", DEFAULT)


def base_root(where: Where) -> Path:
    return as_root(where).base_backups


def restore_points_path(where: Where) -> Path:
    return base_root(where) / RESTORE_POINTS


@dataclass(frozen=True)
class BaseBackup:
    """A finished base backup, as its metadata describes it."""

    stamp: str
    directory: Path
    metadata: dict[str, Any]
    instance: str = DEFAULT

    @property
    def set_id(self) -> str:
        """``postgres/base/<stamp>``, ``postgres/<instance>/base/<stamp>`` for a named instance."""
        return set_id_of("postgres", "base", self.stamp, self.instance)

    @property
    def timeline(self) -> int:
        return int(self.metadata["timeline"])

    @property
    def start_lsn(self) -> str:
        return str(self.metadata["start_lsn"])

    @property
    def stop_lsn(self) -> str:
        return str(self.metadata["stop_lsn"])

    @property
    def stop_time(self) -> datetime:
        return datetime.fromisoformat(self.metadata["stop_time"])

    @property
    def segment_size(self) -> int:
        return int(self.metadata.get("wal_segment_size") or 16 * 1024 * 1024)

    @property
    def tar_path(self) -> Path:
        """The tar the metadata names (``base.tar.lz4`` when the server compressed with LZ4); sets from
        before that choice existed name ``base.tar.zst``, as do those without an artifacts list."""
        for artifact in self.metadata.get("artifacts") or []:
            if isinstance(artifact, dict) and artifact.get("role") == "base" and \
                    str(artifact.get("name", "")).startswith("base.tar") and "/" not in str(artifact["name"]):
                return self.directory / str(artifact["name"])
        return self.directory / TAR_NAME

    @property
    def manifest_in_tar(self) -> bool:
        """pg_basebackup puts backup_manifest into a tar it writes to stdout, not into one the server
        compressed (then only the copy beside it exists)."""
        return bool(self.metadata.get("manifest_in_tar", True))

    @property
    def manifest_path(self) -> Path:
        return self.directory / MANIFEST_NAME


def list_base_backups(where: Where) -> list[BaseBackup]:
    """Complete base backups (those with metadata), oldest first; unreadable metadata is skipped."""
    root = base_root(where)
    instance = instance_of(where)
    found = []
    if not root.is_dir():
        return found
    for entry in sorted(root.iterdir()):
        if not (STAMP.match(entry.name) and entry.is_dir()):
            continue
        try:
            metadata = json.loads((entry / METADATA_NAME).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(metadata, dict) and metadata.get("stop_lsn") and metadata.get("stop_time"):
            found.append(BaseBackup(entry.name, entry, metadata, instance))
    return found


@dataclass(frozen=True)
class RestorePoint:
    name: str
    lsn: str
    time: str
    timeline: int
    wal_file: str

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def read_restore_points(where: Where) -> list[RestorePoint]:
    path = restore_points_path(where)
    points = []
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return points
    for line in lines:
        try:
            data = json.loads(line)
            points.append(RestorePoint(str(data["name"]), str(data["lsn"]), str(data["time"]), int(data["timeline"]),
                                       str(data["wal_file"])))
        except (ValueError, KeyError, TypeError):
            continue
    return points
