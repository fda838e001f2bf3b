"""Safe restore of tar archives and single files into a directory (config and certs restores).

The whole archive is planned before anything is written: every member is checked against our
own rules (a relative path that stays inside the destination, even through symlinks already
there or created by the archive itself) and tarfile's ``data`` filter where Python has it
(3.11.4+). Extraction then goes into a staging directory and is moved into place only when
complete, so a refused or failed restore leaves the destination as it was; existing files are
replaced only when the caller allows it (``--yes``).
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Callable, Iterable, Iterator

from console.compressed import DamagedStream, DecompressedReader, decompress_chunks, stream_chunks
from console.errors import ConfirmationRequired, VerifyFailed
from console.lock import pid_alive
from console.progress import CancelToken, check_cancel

_DATA_FILTER = getattr(tarfile, "data_filter", None)


@dataclass
class ExtractionPlan:
    """What a restore will write: relative paths, and those that already exist."""

    destination: Path
    files: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)

    def add(self, relative: str, is_dir: bool = False) -> None:
        if relative.split("/", 1)[0].startswith(STAGING_PREFIX):
            raise VerifyFailed(f"refusing to restore '{relative}': the name is reserved for the restore's staging")
        target = self.destination / relative
        if not is_dir:
            self.files.append(relative)
            if target.exists() or target.is_symlink():
                self.conflicts.append(relative)
        elif target.exists() and not target.is_dir():
            self.conflicts.append(relative)

    def require_confirmation(self, overwrite: bool) -> None:
        """Refuse to go on when files would be overwritten and --yes was not given."""
        if self.conflicts and not overwrite:
            shown = ", ".join(self.conflicts[:5]) + (f" and {len(self.conflicts) - 5} more" if len(self.conflicts) > 5 else "")
            raise ConfirmationRequired(
                f"{len(self.conflicts)} file(s) already exist in {self.destination}: {shown}",
                hint="rerun with --yes to overwrite them, or restore into an empty directory",
            )


def safe_target(destination: Path, relative: str) -> Path:
    """The path ``relative`` lands on inside ``destination``; refuses anything that escapes it."""
    pure = PurePosixPath(relative)
    if not relative or pure.is_absolute() or ".." in pure.parts or "\x00" in relative:
        raise VerifyFailed(f"refusing to restore '{relative}': the path escapes {destination}")
    root = destination.resolve()
    target = (root / pure).resolve()
    if target != root and not target.is_relative_to(root):
        raise VerifyFailed(f"refusing to restore '{relative}': it resolves outside {destination} (through a symlink)")
    return root / pure


def checked_member(member: tarfile.TarInfo, destination: Path) -> tarfile.TarInfo | None:
    """The member as it will be extracted, or None for entries we skip (devices, fifos)."""
    if member.ischr() or member.isblk() or member.isfifo():
        return None
    safe_target(destination, member.name.rstrip("/"))
    if member.issym() or member.islnk():
        link = member.linkname if member.islnk() else str(PurePosixPath(member.name).parent / member.linkname)
        if member.issym() and PurePosixPath(member.linkname).is_absolute():
            raise VerifyFailed(f"refusing to restore '{member.name}': absolute symlink to {member.linkname}")
        safe_target(destination, os.path.normpath(link))
    if _DATA_FILTER is not None:
        try:
            member = _DATA_FILTER(member, str(destination.resolve()))
        except tarfile.FilterError as exc:
            raise VerifyFailed(f"refusing to restore '{member.name}': {exc}") from None
    return member


class ArchiveRules:
    """What one archive may do as a whole, checked member by member in archive order.

    Each member is checked against the destination on disk (``checked_member``) and against the
    members before it: nothing may be written through a symlink the archive itself creates
    (``x -> .`` then ``x/y -> ../``), below a file it creates (``a`` then ``a/b``), or be a
    hard link to anything but a regular file earlier in the same archive. So a plan that passes
    is an archive that extracts without a refusal half-way.
    """

    def __init__(self, destination: Path) -> None:
        self.destination = destination
        self.kinds: dict[str, str] = {}
        """relative path -> "dir", "file" or "symlink", for the members seen so far."""

    def check(self, member: tarfile.TarInfo) -> tarfile.TarInfo | None:
        checked = checked_member(member, self.destination)
        if checked is None:
            return None
        name = os.path.normpath(checked.name.rstrip("/"))
        if name in ("", "."):
            return checked
        parts = PurePosixPath(name).parts
        for depth in range(1, len(parts)):
            ancestor = "/".join(parts[:depth])
            kind = self.kinds.get(ancestor)
            if kind == "symlink":
                raise VerifyFailed(f"refusing to restore '{member.name}': it lies below the archive's own symlink "
                                   f"'{ancestor}'")
            if kind == "file":
                raise VerifyFailed(f"refusing to restore '{member.name}': '{ancestor}' is a file earlier in the archive")
        if checked.islnk():
            source = os.path.normpath(checked.linkname)
            if self.kinds.get(source) != "file":
                raise VerifyFailed(f"refusing to restore '{member.name}': a hard link to '{checked.linkname}', "
                                   "which is not a file earlier in the archive")
        previous = self.kinds.get(name)
        kind = "dir" if checked.isdir() else "symlink" if checked.issym() else "file"
        if previous is not None and previous != kind:
            raise VerifyFailed(f"refusing to restore '{member.name}': the archive holds it twice, as a {previous} and "
                               f"as a {kind}")
        self.kinds[name] = kind
        return checked


def plan_archive(stream: IO[bytes], destination: Path, plan: ExtractionPlan | None = None,
                 prefix_filter: Iterable[str] = ()) -> ExtractionPlan:
    """Read a tar (gzip auto-detected) to the end, checking every member; returns what it would write.

    Raises:
        VerifyFailed: any member the extraction would refuse, or a damaged archive; nothing is written.
    """
    plan = plan or ExtractionPlan(destination)
    rules = ArchiveRules(destination)
    try:
        with open_tar(stream) as tar:
            for member in tar:
                checked = rules.check(member)
                if checked is not None and checked.name.rstrip("/") not in ("", "."):
                    plan.add(os.path.normpath(checked.name.rstrip("/")), is_dir=checked.isdir())
            _read_to_the_end(tar)
    except (tarfile.TarError, EOFError, OSError, DamagedStream) as exc:
        raise VerifyFailed(f"damaged archive: {exc}") from None
    return plan


def _read_to_the_end(tar: tarfile.TarFile) -> None:
    """Read past tar's end-of-archive blocks to the end of the stream, so that gzip's CRC and
    length trailer are checked: a cut-off file is damage even when every member arrived."""
    while tar.fileobj is not None and tar.fileobj.read(1024 * 1024):
        pass


class _Prefixed(io.RawIOBase):
    """``head`` (bytes already read to sniff the format) followed by the rest of ``stream``."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        if self._head:
            size = min(len(buffer), len(self._head))
            buffer[:size], self._head = self._head[:size], self._head[size:]
            return size
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def open_tar(stream: IO[bytes]) -> tarfile.TarFile:
    """A streaming tar reader; gzip (detected from its bytes) is decoded by :mod:`console.compressed`,
    whose end-of-stream and CRC checks turn a truncated archive into an error (tarfile's own stream
    reader would end early and silently, after the last complete member)."""
    head = stream.read(2)
    source: IO[bytes] = io.BufferedReader(_Prefixed(head, stream))
    if head == b"\x1f\x8b":
        chunks = decompress_chunks(stream_chunks(source, "gzip"), "gzip", "the archive")
        source = DecompressedReader(chunks)  # type: ignore[assignment]
    return tarfile.open(fileobj=source, mode="r|")


STAGING_PREFIX = ".bc-restore-"


def extract_archive(stream: IO[bytes], destination: Path, cancel: CancelToken | None = None,
                    before_commit: Callable[[], None] | None = None) -> list[str]:
    """Extract a planned tar stream into ``destination`` (replacing files; confirm beforehand).

    Everything is first extracted into a private staging directory inside ``destination`` (the
    same file system, so the final moves are renames); only when the whole archive is out are
    its entries moved into place. A refused member, a damaged archive, a full disk or a cancel
    therefore leaves ``destination`` as it was. ``before_commit`` runs between the two, e.g. to
    read an encrypted stream to its end and check its authentication tag.
    """
    destination.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(destination)
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=destination))
    try:
        entries = _extract_to(stream, staging, destination, cancel)
        if before_commit is not None:
            before_commit()
        check_cancel(cancel)
        return _move_into_place(entries, staging, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def remove_stale_staging(destination: Path) -> list[Path]:
    """Remove staging directories left in ``destination`` by restores that were killed (their pid is gone)."""
    removed: list[Path] = []
    try:
        candidates = [p for p in destination.iterdir() if p.name.startswith(STAGING_PREFIX) and p.is_dir()]
    except OSError:
        return removed
    for path in candidates:
        pid = path.name[len(STAGING_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _extract_to(stream: IO[bytes], staging: Path, destination: Path,
                cancel: CancelToken | None) -> list[tuple[str, str]]:
    """Extract every member below ``staging``; returns (relative name, kind) in archive order."""
    rules = ArchiveRules(destination)
    entries: list[tuple[str, str]] = []
    try:
        with open_tar(stream) as tar:
            for member in tar:
                check_cancel(cancel)
                checked = rules.check(member)
                name = os.path.normpath(checked.name.rstrip("/")) if checked is not None else ""
                if checked is None or name in ("", "."):
                    continue
                target = staging / name
                target.parent.mkdir(parents=True, exist_ok=True)
                if checked.isdir():
                    target.mkdir(exist_ok=True)
                    entries.append((name, "dir"))
                    continue
                if target.is_symlink() or target.exists():
                    target.unlink()  # the archive holds the same file twice: the later one wins, as tar does
                if checked.issym():
                    os.symlink(checked.linkname, target)
                    entries.append((name, "symlink"))
                elif checked.islnk():
                    source = staging / os.path.normpath(checked.linkname)
                    shutil.copyfile(source, target)
                    os.chmod(target, source.stat().st_mode & 0o777)
                    entries.append((name, "file"))
                elif checked.isfile():
                    handle = tar.extractfile(member)
                    assert handle is not None
                    with open(target, "wb") as out:
                        for block in _chunks(handle):
                            out.write(block)
                        out.flush()
                        os.fsync(out.fileno())
                    os.chmod(target, (checked.mode if checked.mode is not None else 0o600) & 0o777)
                    entries.append((name, "file"))
    except (tarfile.TarError, EOFError, DamagedStream) as exc:
        raise VerifyFailed(f"damaged archive while extracting: {exc}") from None
    except OSError as exc:
        raise VerifyFailed(f"cannot stage the restore in {destination}: {exc.strerror or exc}"
                           f"{f' ({exc.filename})' if exc.filename else ''}; nothing was restored") from None
    return entries


def _move_into_place(entries: list[tuple[str, str]], staging: Path, destination: Path) -> list[str]:
    """Rename the staged entries over their targets (directories first, so files land inside them)."""
    written: list[str] = []
    for name, kind in entries:
        if kind == "dir":
            target = destination / name
            if target.is_symlink() or (target.exists() and not target.is_dir()):
                target.unlink()
            target.mkdir(parents=True, exist_ok=True)
    for name, kind in entries:
        if kind == "dir":
            continue
        target = destination / name
        staged = staging / name
        if not staged.exists() and not staged.is_symlink():
            continue  # the same name twice in the archive: moved already
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(staged, target)
        written.append(name)
    _fsync_tree(destination, {PurePosixPath(name).parent.as_posix() for name, _ in entries})
    return written


def _fsync_tree(destination: Path, parents: set[str]) -> None:
    for parent in parents:
        try:
            fd = os.open(destination / parent, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _chunks(handle: IO[bytes], size: int = 1024 * 1024) -> Iterator[bytes]:
    while block := handle.read(size):
        yield block


def place_file(target: Path, chunks: Iterable[bytes], mode: int = 0o600) -> None:
    """Write ``chunks`` to a temporary file beside ``target`` and rename it over ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".restoring", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for block in chunks:
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode & 0o777)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def staged_file(target: Path, mode: int = 0o600) -> tuple[Path, IO[bytes]]:
    """A temporary file beside ``target`` to fill now and rename later (see ``commit_staged``)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".restoring", dir=target.parent)
    os.fchmod(fd, mode)
    return Path(temporary), os.fdopen(fd, "wb")


def commit_staged(temporary: Path, target: Path) -> None:
    os.replace(temporary, target)
