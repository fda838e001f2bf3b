"""Archiving Redis's append-only file: Redis 7's multi-part directory, or one appendonly.aof.

Redis 7 keeps ``appendonlydir/`` with a manifest naming a base file and incremental files; the
whole set is needed to load it, so it is archived together as ``aof_<ts>.tar.gz`` (member names
keep the directory, so extracting into a data dir recreates it). Older Redis has one file,
stored as ``aof_<ts>.aof.gz``. Files are read up to their size when opened: the incremental
file keeps growing, and Redis loads a last file cut mid-command (aof-load-truncated).
"""

from __future__ import annotations

import os
import shlex
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from console.artifacts import FAST_GZIP
from console.errors import BackupFailed
from console.kinds.redis.layout import LAYOUT
from console.progress import CancelToken, ProgressCallback, ProgressEvent, check_cancel, emit

if TYPE_CHECKING:
    import redis

    from console.artifacts import ArtifactInfo, ArtifactSet
    from console.kinds.redis.snapshot import Layout

CHUNK_SIZE = 1024 * 1024
GZIP_LEVEL = 1
"""Compression is the bottleneck of the copy: level 1, through ISA-L when installed (``FAST_GZIP``)."""
_UNREADABLE_HINT = "run as a user who can read Redis's data dir, or back up the RDB only with --no-aof"


@dataclass(frozen=True)
class AofOutcome:
    status: str
    """"archived", "off" (appendonly no), "skipped" (--no-aof) or "unavailable" (not readable here)."""
    reason: str
    artifact: ArtifactInfo | None = None
    format: str | None = None
    """"multi-part" (Redis 7 directory) or "single-file"."""
    files: tuple[str, ...] = field(default_factory=tuple)

    def as_metadata(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason, "format": self.format, "files": list(self.files),
                "name": self.artifact.name if self.artifact else None}


def parse_manifest(text: str) -> list[tuple[str, str]]:
    """(file name, type) pairs of a Redis 7 AOF manifest; type b = base, i = incr, h = history."""
    entries = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        words = shlex.split(line)
        pairs = dict(zip(words[0::2], words[1::2]))
        if "file" in pairs:
            entries.append((pairs["file"], pairs.get("type", "i")))
    return entries


def archive(conn: redis.Redis, layout: Layout, files: ArtifactSet, stamp: str, *, skip: bool, timeout: float,
            on_progress: ProgressCallback | None, cancel: CancelToken | None) -> AofOutcome:
    """Write the AOF artefact into ``files`` or say, in the outcome, why there is none."""
    if skip:
        return AofOutcome("skipped", "--no-aof was given")
    if not layout.aof_enabled:
        return AofOutcome("off", "AOF is off on the server (appendonly no)")
    if layout.local_dir is None:
        return AofOutcome("unavailable", f"AOF files are only readable on the Redis host: {layout.why_not_local}")
    _wait_for_rewrite(conn, timeout, on_progress, cancel)
    if layout.appenddirname:
        directory = layout.local_dir / layout.appenddirname
        if directory.is_dir():
            return _archive_directory(directory, layout, files, stamp, on_progress, cancel)
    single = layout.local_dir / layout.appendfilename
    if single.is_file():
        return _archive_single(single, files, stamp, on_progress, cancel)
    raise BackupFailed(f"AOF is on but neither {layout.appenddirname or '(no AOF dir)'} nor {layout.appendfilename} "
                       f"exists in {layout.local_dir}")


def _wait_for_rewrite(conn: redis.Redis, timeout: float, on_progress: ProgressCallback | None,
                      cancel: CancelToken | None) -> None:
    """A rewrite swaps the base file: archive before or after it, never across it."""
    deadline = time.monotonic() + timeout
    announced = False
    while int(conn.info("persistence").get("aof_rewrite_in_progress", 0)):
        if not announced:
            emit(on_progress, ProgressEvent("aof", message="an AOF rewrite is running: waiting for it"))
            announced = True
        check_cancel(cancel)
        if time.monotonic() > deadline:
            raise BackupFailed(f"AOF rewrite still running after {timeout:g} s", hint="raise redis.bgsave_timeout_seconds")
        time.sleep(0.1)


def _open_manifest_set(directory: Path, manifest: Path) -> tuple[bytes, list[tuple[str, IO[bytes], os.stat_result]]]:
    """Read the manifest and open every file it names; retry if a rewrite removed one meanwhile."""
    for _attempt in range(3):
        try:
            text = manifest.read_bytes()
        except OSError as exc:
            raise BackupFailed(f"cannot read the AOF manifest {manifest}: {exc.strerror}", hint=_UNREADABLE_HINT) from None
        opened: list[tuple[str, IO[bytes], os.stat_result]] = []
        try:
            for name, kind in parse_manifest(text.decode("utf-8", "replace")):
                if kind == "h":
                    continue  # history files are waiting to be deleted; Redis does not load them
                handle = open(directory / name, "rb")  # noqa: SIM115 - closed by the caller
                opened.append((name, handle, os.fstat(handle.fileno())))
            return text, opened
        except FileNotFoundError:
            for _name, handle, _st in opened:
                handle.close()
            time.sleep(0.1)
        except OSError as exc:
            for _name, handle, _st in opened:
                handle.close()
            raise BackupFailed(f"cannot read the AOF files in {directory}: {exc.strerror}", hint=_UNREADABLE_HINT) from None
    raise BackupFailed(f"the AOF files in {directory} kept changing while being archived")


def _archive_directory(directory: Path, layout: Layout, files: ArtifactSet, stamp: str,
                       on_progress: ProgressCallback | None, cancel: CancelToken | None) -> AofOutcome:
    manifest = directory / f"{layout.appendfilename}.manifest"
    text, opened = _open_manifest_set(directory, manifest)
    prefix = directory.name
    total = len(text) + sum(st.st_size for _name, _handle, st in opened)
    progress = _Counter("aof", total, on_progress, cancel)
    name = LAYOUT.name("aof", stamp, "tar.gz")
    emit(on_progress, ProgressEvent("aof", 0, total, message=f"archiving {directory} ({len(opened)} files + manifest)"))
    try:
        with files.create(name, FAST_GZIP, GZIP_LEVEL) as out, tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo(f"{prefix}/{manifest.name}")
            info.size, info.mtime, info.mode = len(text), int(manifest.stat().st_mtime), 0o644
            tar.addfile(info, _Reader(_BytesSource(text), progress))
            for member, handle, st in opened:
                info = tarfile.TarInfo(f"{prefix}/{member}")
                info.size, info.mtime, info.mode = st.st_size, int(st.st_mtime), st.st_mode & 0o777
                tar.addfile(info, _Reader(handle, progress))
    finally:
        for _member, handle, _st in opened:
            handle.close()
    emit(on_progress, ProgressEvent("aof", progress.done, total, finished=True))
    names = (manifest.name, *(member for member, _h, _s in opened))
    return AofOutcome("archived", f"{prefix}/ with {len(names)} files", files.infos[-1], "multi-part", names)


def _archive_single(path: Path, files: ArtifactSet, stamp: str, on_progress: ProgressCallback | None,
                    cancel: CancelToken | None) -> AofOutcome:
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise BackupFailed(f"cannot read {path}: {exc.strerror}", hint=_UNREADABLE_HINT) from None
    with handle:
        size = os.fstat(handle.fileno()).st_size
        progress = _Counter("aof", size, on_progress, cancel)
        emit(on_progress, ProgressEvent("aof", 0, size, message=f"copying {path}"))
        reader = _Reader(handle, progress)
        with files.create(LAYOUT.name("aof", stamp, "aof.gz"), FAST_GZIP, GZIP_LEVEL) as out:
            remaining = size
            while remaining and (chunk := reader.read(min(CHUNK_SIZE, remaining))):
                out.write(chunk)
                remaining -= len(chunk)
    emit(on_progress, ProgressEvent("aof", progress.done, size, finished=True))
    return AofOutcome("archived", path.name, files.infos[-1], "single-file", (path.name,))


class _Counter:
    def __init__(self, phase: str, total: int, on_progress: ProgressCallback | None, cancel: CancelToken | None) -> None:
        self.phase, self.total, self.on_progress, self.cancel = phase, total, on_progress, cancel
        self.done = 0

    def add(self, count: int) -> None:
        check_cancel(self.cancel)
        self.done += count
        emit(self.on_progress, ProgressEvent(self.phase, self.done, self.total))


class _BytesSource:
    def __init__(self, data: bytes) -> None:
        self.data, self.offset = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size is None or size < 0 else self.offset + size
        chunk = self.data[self.offset:end]
        self.offset += len(chunk)
        return chunk


class _Reader:
    """A file-like reader that counts bytes and honours cancel between chunks."""

    def __init__(self, source: Any, counter: _Counter) -> None:
        self.source, self.counter = source, counter

    def read(self, size: int = -1) -> bytes:
        chunk = self.source.read(CHUNK_SIZE if size is None or size < 0 else size)
        self.counter.add(len(chunk))
        return chunk
