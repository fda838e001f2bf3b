"""Safe restore of tar archives and single files into a directory (config and certs restores).

Every member is checked twice before anything is written: our own rule (a relative path that
stays inside the destination, even through symlinks already there) and tarfile's ``data``
filter where Python has it (3.11.4+). Files are written to a temporary name next to their
target and renamed, so no restored file is ever half-written; existing files are replaced
only when the caller allows it (``--yes``).
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Iterable, Iterator

from console.errors import ConfirmationRequired, VerifyFailed
from console.progress import CancelToken, check_cancel

_DATA_FILTER = getattr(tarfile, "data_filter", None)


@dataclass
class ExtractionPlan:
    """What a restore will write: relative paths, and those that already exist."""

    destination: Path
    files: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)

    def add(self, relative: str, is_dir: bool = False) -> None:
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


def plan_archive(stream: IO[bytes], destination: Path, plan: ExtractionPlan | None = None,
                 prefix_filter: Iterable[str] = ()) -> ExtractionPlan:
    """Read a tar (gzip auto-detected) to the end, checking every member; returns what it would write."""
    plan = plan or ExtractionPlan(destination)
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for member in tar:
                checked = checked_member(member, destination)
                if checked is not None and checked.name.rstrip("/") not in ("", "."):
                    plan.add(checked.name.rstrip("/"), is_dir=checked.isdir())
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise VerifyFailed(f"damaged archive: {exc}") from None
    return plan


def extract_archive(stream: IO[bytes], destination: Path, cancel: CancelToken | None = None) -> list[str]:
    """Extract a checked tar stream into ``destination`` (replacing files; confirm beforehand)."""
    written: list[str] = []
    destination.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for member in tar:
                check_cancel(cancel)
                checked = checked_member(member, destination)
                name = checked.name.rstrip("/") if checked is not None else ""
                if checked is None or name in ("", "."):
                    continue
                target = safe_target(destination, name)
                if checked.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                elif checked.issym():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    if target.is_symlink() or target.exists():
                        target.unlink()
                    os.symlink(checked.linkname, target)
                    written.append(name)
                elif checked.islnk():
                    source = safe_target(destination, checked.linkname)
                    with open(source, "rb") as handle:
                        place_file(target, _chunks(handle), source.stat().st_mode & 0o777)
                    written.append(name)
                elif checked.isfile():
                    handle = tar.extractfile(member)
                    assert handle is not None
                    place_file(target, _chunks(handle), checked.mode if checked.mode is not None else 0o600)
                    written.append(name)
    except (tarfile.TarError, EOFError) as exc:
        raise VerifyFailed(f"damaged archive while extracting: {exc}") from None
    return written


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
