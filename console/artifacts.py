"""The shared artefact writer: every backup file is streamed to ``<name>.partial``, hashed on
the way, fsynced and renamed only when the whole set is complete.

On any failure (an exception, a cancel, a full disk) every partial file of the set is removed,
and so is any file of the set already renamed, so a failed run never leaves a file that looks
complete. Metadata is written last, so a set with metadata is a set whose files all exist.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.util
import json
import os
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Iterator

from console.errors import BackupFailed
from console.lock import pid_alive

CHUNK_SIZE = 1024 * 1024
PARTIAL_SUFFIX = ".partial"
FAST_GZIP = "isal-gzip" if importlib.util.find_spec("isal") else "gzip"
"""The writer kind for gzip files: ISA-L (the ``isal`` package) when installed, the same gzip format at
about five times the speed of Python's zlib; zlib otherwise. ISA-L's levels are 0-3."""


def partial_path(final: Path, pid: int | None = None) -> Path:
    """Where ``final`` is written until its set commits: ``<name>.<pid>.partial``.

    The writer's pid is in the name so that stale-lock recovery removes only what the dead
    holder wrote, never the partial files of a neighbouring run that is still writing.
    """
    return final.with_name(f"{final.name}.{os.getpid() if pid is None else pid}{PARTIAL_SUFFIX}")


@dataclass(frozen=True)
class ArtifactInfo:
    """A finished file of a backup set."""

    name: str
    path: Path
    size_bytes: int
    sha256: str
    raw_bytes: int
    """Bytes before compression (equal to size_bytes when uncompressed)."""

    def as_metadata(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "size_bytes": self.size_bytes,
            "size_mb": self.size_bytes // (1024 * 1024),
            "sha256": self.sha256,
        }


class _Compressor:
    """gzip (zlib with a gzip header), zstd or nothing, behind one interface."""

    def __init__(self, kind: str | None, level: int | None) -> None:
        self.kind = kind
        if kind == "gzip":
            self._obj: Any = zlib.compressobj(6 if level is None else level, zlib.DEFLATED, 31)
        elif kind == "isal-gzip":
            from isal import isal_zlib  # ISA-L deflate: the same gzip format, about 5x zlib's speed

            self._obj = isal_zlib.compressobj(1 if level is None else level, isal_zlib.DEFLATED, 31)
        elif kind == "zstd":
            self._obj = _ZstdFrames(3 if level is None else level)
        elif kind is None:
            self._obj = None
        else:
            raise ValueError(f"unknown compression {kind!r}")

    def compress(self, data: bytes) -> bytes:
        return data if self._obj is None else self._obj.compress(data)

    def flush(self) -> bytes:
        return b"" if self._obj is None else self._obj.flush()


ZSTD_FRAME_BYTES = 512 * 1024
"""Input per zstd frame: the pipelines write chunks of this size, so each becomes a frame as it comes."""


class _ZstdFrames:
    """zstd written as independent frames of ``ZSTD_FRAME_BYTES`` of input each (a zstd stream may
    hold any number of frames: ``zstd -d`` and console.compressed read them as one).

    One-shot compression of a whole chunk reads it where it lies; the streaming compressor first
    copies every byte into its own ring buffer and, once that wraps, matches across two segments
    (zstd's slower "extDict" path). On the hard-data dump (bench/README.md) frames took 10-20 %
    less CPU for a file 0.24 % larger: at level 1 the window is 512 KiB anyway, so a frame loses
    only the matches that would reach back across its start.
    """

    def __init__(self, level: int) -> None:
        import zstandard

        self._cctx = zstandard.ZstdCompressor(level=level, write_checksum=True)
        self._pending = bytearray()
        self._frames = 0

    def compress(self, data: bytes) -> bytes:
        view = memoryview(data)
        frames = []
        if self._pending:  # small writes are gathered: a frame per write would lose most matches
            taken = ZSTD_FRAME_BYTES - len(self._pending)
            self._pending += view[:taken]
            view = view[taken:]
            if len(self._pending) < ZSTD_FRAME_BYTES:
                return b""
            frames.append(self._take_pending())
        while len(view) >= ZSTD_FRAME_BYTES:  # a big write still goes in frames of the same size, not one huge one
            frames.append(self._frame(view[:ZSTD_FRAME_BYTES]))
            view = view[ZSTD_FRAME_BYTES:]
        self._pending += view
        return frames[0] if len(frames) == 1 else b"".join(frames)

    def flush(self) -> bytes:
        return self._take_pending() if self._pending or not self._frames else b""  # empty input: one empty frame

    def _take_pending(self) -> bytes:
        out = self._frame(bytes(self._pending))
        self._pending.clear()
        return out

    def _frame(self, data: bytes | memoryview) -> bytes:
        self._frames += 1
        return self._cctx.compress(data)


class ArtifactWriter:
    """A write-only stream into ``<final>.partial`` that hashes and counts what it writes."""

    def __init__(self, final_path: Path, compression: str | None = None, level: int | None = None,
                 file_mode: int = 0o600) -> None:
        self.final_path = final_path
        self.partial_path = partial_path(final_path)
        self._file: BinaryIO = open(self.partial_path, "xb")  # noqa: SIM115 - closed in close()
        os.chmod(self.partial_path, file_mode)
        self._compressor = _Compressor(compression, level)
        self._hash = hashlib.sha256()
        self.raw_bytes = 0
        self.size_bytes = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self.raw_bytes += len(data)
        self._write_out(self._compressor.compress(data))
        return len(data)

    def _write_out(self, data: bytes) -> None:
        if not data:
            return
        try:
            self._file.write(data)
        except OSError as exc:
            raise _disk_error(exc, self.final_path) from None
        self._hash.update(data)
        self.size_bytes += len(data)

    def close(self) -> None:
        """Flush, fsync and close the partial file (it is renamed later by the set)."""
        if self.closed:
            return
        try:
            self._write_out(self._compressor.flush())
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            _close_quietly(self._file)
            self.closed = True
            raise _disk_error(exc, self.final_path) from None
        self._file.close()
        self.closed = True

    def abort(self) -> None:
        if not self.closed:
            _close_quietly(self._file)
            self.closed = True
        self.partial_path.unlink(missing_ok=True)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def info(self) -> ArtifactInfo:
        return ArtifactInfo(self.final_path.name, self.final_path, self.size_bytes, self.sha256, self.raw_bytes)


def _make_dirs(directory: Path, mode: int) -> None:
    """mkdir -p where every directory created (not only the last) gets ``mode``, whatever the umask."""
    missing = []
    for candidate in (directory, *directory.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    for candidate in reversed(missing):
        candidate.mkdir(exist_ok=True)
        os.chmod(candidate, mode)


def _close_quietly(handle: BinaryIO) -> None:
    """Close a file whose buffered bytes may not fit any more (disk full): the bytes are lost
    anyway, and the error that matters was raised already; a second one would hide it."""
    try:
        handle.close()
    except OSError:
        pass


def _disk_error(exc: OSError, path: Path) -> BackupFailed:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return BackupFailed(f"no space left writing {path.name} in {path.parent} ({exc.strerror})",
                            hint="free space at the destination or point BACKUP_DIR elsewhere")
    return BackupFailed(f"cannot write {path}: {exc.strerror or exc}")


class ArtifactSet:
    """All files of one backup run, committed together or not at all.

    Usage::

        with ArtifactSet(directory) as files:
            with files.create("backup_db_20250101_020000.dump") as out:
                for chunk in source: out.write(chunk)
            files.write_json("backup_db_20250101_020000.json", metadata)  # last
        # leaving the block without an exception renames every .partial into place
    """

    def __init__(self, directory: Path, dir_mode: int = 0o700, file_mode: int = 0o600) -> None:
        self.directory = directory
        self.dir_mode = dir_mode
        """For directories this set creates (settings.dir_mode): private unless configured otherwise."""
        self.file_mode = file_mode
        self._writers: list[ArtifactWriter] = []
        self._committed: list[Path] = []
        self.infos: list[ArtifactInfo] = []

    def __enter__(self) -> ArtifactSet:
        try:
            _make_dirs(self.directory, self.dir_mode)
        except OSError as exc:
            raise BackupFailed(f"cannot create backup directory {self.directory}: {exc.strerror}") from None
        return self

    def create(self, name: str, compression: str | None = None, level: int | None = None) -> _ManagedWriter:
        """Open a new file of the set for streaming writes."""
        final = self.directory / name
        if final.exists():
            raise BackupFailed(f"{final} already exists; refusing to overwrite a backup")
        try:
            writer = ArtifactWriter(final, compression, level, self.file_mode)
        except FileExistsError:
            raise BackupFailed(f"{final}.partial exists: another run is writing it") from None
        except OSError as exc:
            raise _disk_error(exc, final) from None
        self._writers.append(writer)
        return _ManagedWriter(writer, self)

    def write_bytes(self, name: str, data: bytes, compression: str | None = None) -> ArtifactInfo:
        with self.create(name, compression) as out:
            out.write(data)
        return self.infos[-1]

    def write_json(self, name: str, document: Any, compression: str | None = None) -> ArtifactInfo:
        return self.write_bytes(name, (json.dumps(document, indent=2, sort_keys=False) + "\n").encode(), compression)

    def adopt(self, name: str, source: Path, sha256: str, raw_bytes: int) -> ArtifactInfo:
        """Take into the set a finished file a child process wrote (``source``, on the same file
        system), hashed by the caller as it read it: it becomes the set's partial file, fsynced, and is
        renamed with the rest at commit (or removed on rollback)."""
        final = self.directory / name
        if final.exists():
            raise BackupFailed(f"{final} already exists; refusing to overwrite a backup")
        adopted = _Adopted(final)
        try:
            os.replace(source, adopted.partial_path)
            self._writers.append(adopted)  # type: ignore[arg-type]
            os.chmod(adopted.partial_path, self.file_mode)
            with open(adopted.partial_path, "rb") as handle:
                os.fsync(handle.fileno())
            size = adopted.partial_path.stat().st_size
        except OSError as exc:
            raise _disk_error(exc, final) from None
        info = ArtifactInfo(name, final, size, sha256, raw_bytes)
        self.infos.append(info)
        return info

    def _finished(self, writer: ArtifactWriter) -> None:
        self.infos.append(writer.info())

    def commit(self) -> list[ArtifactInfo]:
        """Rename every partial into place (data files first, in creation order) and fsync the dir."""
        for writer in self._writers:
            if not writer.closed:
                raise BackupFailed(f"{writer.final_path.name} was not finished")
        for writer in self._writers:
            os.replace(writer.partial_path, writer.final_path)
            self._committed.append(writer.final_path)
        _fsync_dir(self.directory)
        return list(self.infos)

    def rollback(self) -> None:
        for writer in self._writers:
            writer.abort()
        for path in self._committed:
            path.unlink(missing_ok=True)
        self._committed.clear()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc_type is None:
            try:
                self.commit()
            except BaseException:
                self.rollback()
                raise
        else:
            self.rollback()


class _Adopted:
    """A file of the set written by someone else (ArtifactSet.adopt): finished, only to be renamed."""

    closed = True

    def __init__(self, final_path: Path) -> None:
        self.final_path = final_path
        self.partial_path = partial_path(final_path)

    def abort(self) -> None:
        self.partial_path.unlink(missing_ok=True)


class _ManagedWriter:
    """Context manager around an ArtifactWriter that reports completion to its set."""

    def __init__(self, writer: ArtifactWriter, owner: ArtifactSet) -> None:
        self.writer = writer
        self._owner = owner

    def __enter__(self) -> ArtifactWriter:
        return self.writer

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc_type is None:
            self.writer.close()
            self._owner._finished(self.writer)
        else:
            self.writer.abort()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text_atomic(path: Path, text: str, mode: int = 0o600) -> None:
    """Replace a text file atomically (temp file in the same dir, fsync, rename, fsync the dir)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except OSError as exc:
        Path(tmp_name).unlink(missing_ok=True)
        if exc.filename:
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from None  # name the file: "No space left: <path>"
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_json_atomic(path: Path, document: Any, mode: int = 0o600) -> None:
    """Replace a JSON file atomically: a reader sees the old document or the new one, never half."""
    write_text_atomic(path, json.dumps(document, indent=2) + "\n", mode)


def sha256_file(path: Path, chunk_size: int = CHUNK_SIZE) -> str:
    """Hash a file in chunks (never loads it whole)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def iter_file(path: Path, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            yield chunk


def final_name(path: Path) -> str:
    """The name a file has (or will have once committed), without ``.<pid>.partial``."""
    name = path.name
    if name.endswith(PARTIAL_SUFFIX):
        stem, _, pid = name[: -len(PARTIAL_SUFFIX)].rpartition(".")
        return stem if pid.isdigit() and stem else name[: -len(PARTIAL_SUFFIX)]
    return name


def remove_stale_partials(directory: Path, pid: int) -> list[Path]:
    """Delete the ``*.<pid>.partial`` files a killed run left (called under that run's lock).

    Only the dead holder's own files go: a pid that is alive again (reused) keeps its files,
    and partial files of other runs in the same directory are never touched.
    """
    removed: list[Path] = []
    # Our own pid here means the dead holder's pid was reused for us: its files are still its own.
    if pid <= 0 or (pid != os.getpid() and pid_alive(pid)):
        return removed
    for folder in (directory, directory / "archives"):
        if folder.is_dir():
            for path in folder.glob(f"*.{pid}{PARTIAL_SUFFIX}"):
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed
