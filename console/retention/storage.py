"""Where retention deletes: local BACKUP_DIR and the S3 bucket behind one small interface, and
``DryRunStorage``, which passes reads through and turns every write and delete into a no-op.

Wrapping the real storage in DryRunStorage for a preview means a forgotten ``if dry_run``
can never delete anything. Deletes are confined: LocalStorage refuses any path outside
BACKUP_DIR, S3Storage any key outside the configured prefix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Protocol

from console.errors import ConsoleError


class StorageError(ConsoleError):
    """A delete or listing failed; the message names the file or key."""


class Storage(Protocol):
    name: str

    def list(self, prefix: str = "") -> Iterator[tuple[str, int]]: ...

    def delete(self, location: str) -> None: ...


@dataclass
class LocalStorage:
    """Files below ``root``; locations are paths relative to it."""

    root: Path
    name: str = "local"

    def _resolve(self, location: str) -> Path:
        # lexical, not resolve(): a kind directory may be a symlink to another volume, and
        # unlink() removes a symlinked file's link, never its target
        root = Path(os.path.normpath(self.root.absolute()))
        path = Path(os.path.normpath(root / location))
        if root != path and root not in path.parents:
            raise StorageError(f"refusing to touch {path}: it is outside {root}")
        return path

    def list(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        root = self._resolve("")
        base = self._resolve(prefix) if prefix else root
        for directory, _dirs, files in os.walk(base):
            for file_name in files:
                path = Path(directory) / file_name
                try:
                    yield str(path.relative_to(root)), path.lstat().st_size
                except OSError:
                    continue

    def delete(self, location: str) -> None:
        path = self._resolve(location)
        try:
            path.unlink()
        except FileNotFoundError:
            return  # already gone: the goal is reached
        except OSError as exc:
            raise StorageError(f"cannot delete {path}: {exc.strerror}") from None


@dataclass
class S3Storage:
    """Objects of one bucket below ``prefix``; locations are full keys."""

    client: Any
    bucket: str
    prefix: str = ""
    name: str = "s3"
    also: tuple[str, ...] = ()
    """Other prefixes whose keys may be deleted (named instances' own ``s3_prefix``)."""

    def _check(self, key: str) -> None:
        allowed = (self.prefix, *self.also)
        if self.prefix and not any(key.startswith(prefix) for prefix in allowed):
            raise StorageError(f"refusing to touch s3://{self.bucket}/{key}: it is outside prefix "
                               f"'{', '.join(allowed)}'")

    def list(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        for obj in self.list_objects(prefix):
            yield obj["Key"], int(obj.get("Size", 0))

    def list_objects(self, prefix: str = "") -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            yield from page.get("Contents", [])

    def delete(self, location: str) -> None:
        from botocore import exceptions as bexc

        self._check(location)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=location)
        except (bexc.BotoCoreError, bexc.ClientError) as exc:
            raise StorageError(f"cannot delete s3://{self.bucket}/{location}: {type(exc).__name__}") from None


@dataclass
class DryRunStorage:
    """Reads pass through to ``inner``; deletes are recorded in ``would_delete`` and not done."""

    inner: Any
    would_delete: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.inner.name} (dry run)"

    def list(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        return self.inner.list(prefix)

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith(("list", "get", "head", "read")):
            return getattr(self.inner, attribute)
        raise AttributeError(f"DryRunStorage does not pass '{attribute}' through (not a read)")

    def delete(self, location: str) -> None:
        self.would_delete.append(location)
