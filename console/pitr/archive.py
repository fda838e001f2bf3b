"""The WAL archive on disk: ``push`` (archive_command) and ``get`` (restore_command).

Each archived file is stored as ``<name>`` or, compressed, ``<name>.zst``, next to
``<name>.sha256`` (sha256sum format) holding the checksum of the original bytes. The sidecar is
written before the data, so every stored file has its checksum. Both are written to a temporary
name, fsynced, renamed and the directory fsynced: a crash leaves the old state or the new one.

PostgreSQL retries archive_command after any failure, so pushing a file that is already
archived with the same content succeeds; a different file under the same name is refused.

Standard library only (zstandard is imported when a file is compressed): this runs once per
WAL segment.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import BinaryIO, Iterator, NamedTuple

from console.errors import ConsoleError, UsageError
from console.pitr.walnames import SEGMENT, is_valid_name

CHUNK = 1024 * 1024
FILE_MODE = 0o640
"""Group-readable: a backup user in the server user's group can check and restore the archive."""
WHOLE_FILE_LIMIT = 64 * 1024 * 1024
"""Files up to this size (every default 16 MiB segment) are read once into memory: hashed,
then written, instead of being read twice."""
SUFFIX_ZSTD = ".zst"
SUFFIX_SUM = ".sha256"


class ArchiveConflict(ConsoleError):
    """A different file with the same name is already archived."""


class WalMissing(ConsoleError):
    """The archive does not hold the requested file (recovery treats this as the end of WAL)."""


class WalCorrupt(ConsoleError):
    """The archived file does not match its checksum.

    Exit status 126: PostgreSQL aborts recovery on a restore_command status above 125 instead of
    taking the damaged file as the end of the archive and promoting early.
    """

    exit_code = 126  # type: ignore[assignment]


class PushResult(NamedTuple):
    name: str
    stored_as: Path
    sha256: str
    bytes_in: int
    bytes_stored: int
    already_archived: bool


class StoredWal(NamedTuple):
    name: str
    path: Path
    compressed: bool
    sha256: str | None


def should_compress(name: str) -> bool:
    """Only segments are worth compressing; history and backup-label files are a few bytes."""
    return bool(SEGMENT.match(name)) or name.endswith(".partial")


def find(archive_dir: Path, name: str) -> StoredWal | None:
    """The stored form of ``name`` in the archive, or None."""
    for candidate, compressed in ((archive_dir / (name + SUFFIX_ZSTD), True), (archive_dir / name, False)):
        if candidate.is_file():
            return StoredWal(name, candidate, compressed, read_sidecar(archive_dir, name))
    return None


def read_sidecar(archive_dir: Path, name: str) -> str | None:
    try:
        text = (archive_dir / (name + SUFFIX_SUM)).read_text()
    except (OSError, UnicodeDecodeError):
        return None
    digest = text.split(maxsplit=1)[0] if text.strip() else ""
    return digest if len(digest) == 64 else None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(final: Path, chunks: Iterator[bytes]) -> int:
    """Write chunks to a temp name beside ``final``, fsync, rename; returns bytes written."""
    temp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    written = 0
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
                written += len(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return written


def _read(handle: BinaryIO) -> Iterator[bytes]:
    while chunk := handle.read(CHUNK):
        yield chunk


def _compressed(chunks: Iterator[bytes], level: int) -> Iterator[bytes]:
    import zstandard

    compressor = zstandard.ZstdCompressor(level=level, write_checksum=True).compressobj()
    for chunk in chunks:
        out = compressor.compress(chunk)
        if out:
            yield out
    yield compressor.flush()


def stored_bytes(stored: StoredWal) -> Iterator[bytes]:
    """The original bytes of an archived file (decompressed when needed)."""
    if stored.compressed:
        from console.compressed import iter_decompressed  # not on wal push's path: kept out of its start-up

        yield from iter_decompressed(stored.path, compression="zstd")
    else:
        with open(stored.path, "rb") as handle:
            yield from _read(handle)


def _sha256_of(chunks: Iterator[bytes]) -> tuple[str, int]:
    digest = hashlib.sha256()
    total = 0
    for chunk in chunks:
        digest.update(chunk)
        total += len(chunk)
    return digest.hexdigest(), total


def _check_dir(archive_dir: Path) -> None:
    if not archive_dir.is_dir():
        raise UsageError(f"WAL archive directory {archive_dir} does not exist",
                         hint="create it, owned by the database server's OS user")


def push(source: Path, archive_dir: Path, name: str | None = None, compression: str | None = "zstd",
         level: int = 1) -> PushResult:
    """Archive ``source`` (PostgreSQL's %p) as ``name`` (%f, default: its base name).

    Raises:
        UsageError: bad name or missing archive directory.
        ArchiveConflict: the archive holds a different file under this name.
    """
    name = name or source.name
    if not is_valid_name(name):
        raise UsageError(f"'{name}' is not a WAL file name (expected e.g. 000000010000000000000003)")
    if compression not in (None, "zstd"):
        raise UsageError(f"unknown compression '{compression}' (choose zstd or none)")
    _check_dir(archive_dir)
    try:
        source_handle = open(source, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise UsageError(f"cannot read {source}: {exc.strerror}") from None
    with source_handle:
        existing = find(archive_dir, name)
        if existing is not None:
            return _repeat_push(source_handle, archive_dir, existing)
        compress = compression == "zstd" and should_compress(name)
        final = archive_dir / (name + (SUFFIX_ZSTD if compress else ""))
        # the sidecar must exist before the data, so the checksum comes first
        if os.fstat(source_handle.fileno()).st_size <= WHOLE_FILE_LIMIT:
            whole = source_handle.read()  # read() sizes its buffer from fstat: one allocation, one copy
            sha, size = hashlib.sha256(whole).hexdigest(), len(whole)

            def content() -> Iterator[bytes]:
                yield whole
        else:
            sha, size = _sha256_of(_read(source_handle))
            source_handle.seek(0)

            def content() -> Iterator[bytes]:
                yield from _read(source_handle)
        _write_atomic(archive_dir / (name + SUFFIX_SUM), iter([f"{sha}  {name}\n".encode()]))
        stored = _write_atomic(final, _compressed(content(), level) if compress else content())
        _fsync_dir(archive_dir)
        return PushResult(name, final, sha, size, stored, already_archived=False)


def _repeat_push(source_handle: BinaryIO, archive_dir: Path, existing: StoredWal) -> PushResult:
    sha, size = _sha256_of(_read(source_handle))
    recorded = existing.sha256 or _sha256_of(stored_bytes(existing))[0]
    if recorded != sha:
        raise ArchiveConflict(
            f"{existing.name} is already archived in {archive_dir} with different content "
            f"(archived sha256 {recorded[:16]}, this file {sha[:16]})",
            hint="two clusters may archive into one directory, or a restored copy kept archive_mode on")
    if existing.sha256 is None:
        _write_atomic(archive_dir / (existing.name + SUFFIX_SUM), iter([f"{sha}  {existing.name}\n".encode()]))
        _fsync_dir(archive_dir)
    return PushResult(existing.name, existing.path, sha, size, existing.path.stat().st_size, already_archived=True)


class _Unreadable(Exception):
    pass


class GetResult(NamedTuple):
    name: str
    source: Path
    destination: Path
    bytes_out: int
    checked: bool
    """False when the archive holds no checksum for the file (written by another tool)."""


def get(name: str, destination: Path, archive_dir: Path) -> GetResult:
    """Restore ``name`` (%f) from the archive to ``destination`` (%p), checking its sha256.

    Raises:
        WalMissing: not archived (exit 1: recovery ends there, as PostgreSQL expects).
        WalCorrupt: the bytes do not match the recorded sha256 (exit 126: recovery aborts).
    """
    if not is_valid_name(name):
        raise UsageError(f"'{name}' is not a WAL file name")
    _check_dir(archive_dir)
    stored = find(archive_dir, name)
    if stored is None:
        raise WalMissing(f"{name} is not in the WAL archive {archive_dir}")
    digest = hashlib.sha256()

    def hashed() -> Iterator[bytes]:
        try:
            for chunk in stored_bytes(stored):
                digest.update(chunk)
                yield chunk
        except Exception as exc:  # noqa: BLE001 - zstandard.ZstdError or a short read: a damaged file
            raise _Unreadable(str(exc)) from None

    temp_final = destination.with_name(destination.name + ".bc-partial")
    try:
        written = _write_atomic(temp_final, hashed())
    except _Unreadable as exc:
        raise WalCorrupt(f"{stored.path} cannot be read back: {exc}") from None
    except OSError as exc:
        raise ConsoleError(f"cannot write {destination}: {exc.strerror or exc}") from None
    if stored.sha256 is not None and digest.hexdigest() != stored.sha256:
        temp_final.unlink(missing_ok=True)
        raise WalCorrupt(f"{stored.path} does not match its recorded sha256 "
                         f"({digest.hexdigest()[:16]} != {stored.sha256[:16]})",
                         hint="restore this segment from another copy (S3?) before recovering past it")
    os.replace(temp_final, destination)
    return GetResult(name, stored.path, destination, written, stored.sha256 is not None)

