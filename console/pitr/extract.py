"""Unpacking a base backup's ``base.tar.zst`` into a directory, streamed, with a progress callback.

Members are checked before they are written: no absolute paths, no ``..``, no links pointing
out of the target (the tar comes from our own backup, but a damaged or swapped file must not
write outside the directory it is restored into).
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path
from typing import Callable

from console.compressed import DecompressedReader
from console.errors import VerifyFailed


class _Counting:
    """A read-only stream that counts the decompressed bytes read through it."""

    def __init__(self, raw, on_bytes: Callable[[int], None] | None) -> None:  # noqa: ANN001
        self.raw = raw
        self.done = 0
        self.on_bytes = on_bytes

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.done += len(data)
        if self.on_bytes is not None:
            self.on_bytes(self.done)
        return data


def extract(tar_path: Path, target: Path, on_bytes: Callable[[int], None] | None = None) -> int:
    """Unpack into ``target`` (created 0700 if missing); returns the tar bytes read.

    Raises:
        VerifyFailed: the file is not a readable zstd tar (damaged, truncated).
    """
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(target, 0o700)  # PostgreSQL refuses a data directory readable by others
    try:
        with DecompressedReader(tar_path) as reader:
            counting = _Counting(reader, on_bytes)
            with tarfile.open(fileobj=counting, mode="r|") as tar:  # type: ignore[call-overload]
                tar.copybufsize = 1024 * 1024  # PostgreSQL's files are up to 1 GiB: copy in large blocks
                for member in tar:
                    if _has_filters():
                        tar.extract(member, target, filter="data")
                    else:
                        _extract_checked(tar, member, target)
            reader.drain()  # to the end of the stream: zstd's checksum is checked
            return counting.done
    except (tarfile.TarError, EOFError) as exc:
        raise VerifyFailed(f"{tar_path} cannot be unpacked: {exc}") from None
    except VerifyFailed as exc:
        raise VerifyFailed(f"{tar_path} cannot be unpacked: {exc.message}") from None


def _has_filters() -> bool:
    return hasattr(tarfile, "data_filter")


def _extract_checked(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    destination = (target / member.name).resolve()
    if not str(destination).startswith(str(target.resolve())) or member.issym() or member.islnk():
        raise VerifyFailed(f"refusing tar member {member.name!r}: it points outside {target}")
    tar.extract(member, target)
