"""Opening a compressed artefact: the one place that turns a ``.gz``/``.tgz``/``.zst``/``.lz4`` file
(or a stream of its bytes) back into its content.

Every reader goes through here (verify, the PostgreSQL and Redis restores, the WAL archive, base
backup extraction, archive extraction), so every one checks the whole stream the same way: a gzip
member's CRC-32 and length, zstd's frame checksum, LZ4's content and block checksums (as the frame
header asks for them), and a stream that stops before its end is an
error naming the file, never a short read that looks like the end.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator

from console.artifacts import CHUNK_SIZE, iter_file
from console.errors import VerifyFailed
from console.progress import CancelToken, check_cancel

_MAX_OUT = 4 * CHUNK_SIZE
_ZSTD_IN = 64 * 1024
"""zstd's decompressobj has no output limit: small input chunks bound its output."""

RawObserver = Callable[[bytes], None]
"""Sees every byte of the file as stored, in order (verify hashes it: one read for hash and content)."""

FROM_NAME = "from the name"
"""``compression=`` default: decided by the file name's suffix."""

try:  # ISA-L inflates gzip about twice as fast as zlib, same format and same error checks
    from isal import isal_zlib as gzip_zlib
except ImportError:  # pragma: no cover - isal is a dependency; zlib is the fallback when it is missing
    gzip_zlib = zlib  # type: ignore[misc]

DECODE_ERRORS: tuple[type[Exception], ...] = (zlib.error, gzip_zlib.error)


class DamagedStream(VerifyFailed):
    """The compression stream is corrupt, truncated or empty (the file's bytes, not the disk)."""


def compression_of(name: str) -> str | None:
    """"gzip", "zstd", "lz4" or None, from the file name (``.gz``/``.tgz``, ``.zst``, ``.lz4``)."""
    if name.endswith((".gz", ".tgz")):
        return "gzip"
    if name.endswith(".zst"):
        return "zstd"
    if name.endswith(".lz4"):
        return "lz4"
    return None


def iter_decompressed(path: Path, cancel: CancelToken | None = None, on_raw: RawObserver | None = None,
                      compression: str | None = FROM_NAME, label: str | None = None) -> Iterator[bytes]:
    """The decompressed content of ``path`` in chunks, checking the whole stream on the way.

    ``compression`` is "gzip", "zstd", "lz4" or None (stored as is); by default it follows the name (a file
    still being written under a temporary name says which it is, and ``label`` names it in errors).
    ``on_raw`` is handed every chunk as read from disk, before it is decompressed.

    Raises:
        VerifyFailed: corrupt or truncated stream, naming the file.
    """
    kind = compression_of(path.name) if compression == FROM_NAME else compression
    raw = iter_file(path, _ZSTD_IN if kind == "zstd" else CHUNK_SIZE)
    return decompress_chunks(raw, kind, label or path.name, cancel, on_raw)


def decompress_chunks(raw: Iterable[bytes], compression: str | None, label: str, cancel: CancelToken | None = None,
                      on_raw: RawObserver | None = None) -> Iterator[bytes]:
    """:func:`iter_decompressed` over bytes that come from elsewhere (a decrypting stream);
    ``label`` names them in errors."""
    if compression == "gzip":
        return _gunzip(raw, label, cancel, on_raw)
    if compression == "zstd":
        return _unzstd(raw, label, cancel, on_raw)
    if compression == "lz4":
        return _decoded(StreamDecoder("lz4", label), raw, cancel, on_raw)
    return _passed_through(raw, cancel, on_raw)


def stream_chunks(stream: IO[bytes], compression: str | None) -> Iterator[bytes]:
    """A file object's bytes in chunks sized for the decoder (small for zstd: they bound its output)."""
    size = _ZSTD_IN if compression == "zstd" else CHUNK_SIZE
    while chunk := stream.read(size):
        yield chunk


def _passed_through(raw: Iterable[bytes], cancel: CancelToken | None, on_raw: RawObserver | None) -> Iterator[bytes]:
    for chunk in raw:
        check_cancel(cancel)
        if on_raw is not None:
            on_raw(chunk)
        yield chunk


def _gunzip(raw: Iterable[bytes], label: str, cancel: CancelToken | None,
            on_raw: RawObserver | None) -> Iterator[bytes]:
    return _decoded(StreamDecoder("gzip", label), raw, cancel, on_raw)


def _unzstd(raw: Iterable[bytes], label: str, cancel: CancelToken | None,
            on_raw: RawObserver | None) -> Iterator[bytes]:
    return _decoded(StreamDecoder("zstd", label), raw, cancel, on_raw)


def _decoded(decoder: StreamDecoder, raw: Iterable[bytes], cancel: CancelToken | None,
             on_raw: RawObserver | None) -> Iterator[bytes]:
    for chunk in raw:
        check_cancel(cancel)
        if on_raw is not None:
            on_raw(chunk)
        yield from decoder.feed(chunk)
    yield from decoder.finish()


class StreamDecoder:
    """Decodes a gzip, zstd or LZ4 frame stream pushed to it piece by piece (for a caller that is handed bytes,
    like a decrypting check, rather than pulling them): ``feed`` yields what each piece decodes to,
    ``finish`` checks the stream ended where it should.

    Raises:
        DamagedStream: from ``feed`` or ``finish``, naming ``label``.
    """

    def __init__(self, compression: str, label: str) -> None:
        if compression not in ("gzip", "zstd", "lz4"):
            raise ValueError(f"unknown compression {compression!r}")
        self.compression, self.label = compression, label
        self.seen_any = False
        self._decoder = self._new()

    def _new(self) -> Any:
        if self.compression == "gzip":
            return gzip_zlib.decompressobj(31)
        if self.compression == "lz4":
            import lz4.frame

            return lz4.frame.LZ4FrameDecompressor()
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj()

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self.compression == "lz4":
            return self._lz4(data)
        return self._gzip(data) if self.compression == "gzip" else self._zstd(data)

    def _gzip(self, data: bytes) -> Iterator[bytes]:
        if data:
            self.seen_any = True
        while data:
            if self._decoder.eof:  # another gzip member follows (gzip allows concatenated members)
                if not data.strip(b"\0"):
                    return  # trailing zero padding, which gzip -t accepts too
                self._decoder = self._new()
            try:
                out = self._decoder.decompress(data, _MAX_OUT)
            except DECODE_ERRORS as exc:
                raise DamagedStream(f"gzip stream corrupt in {self.label}: {_zlib_reason(exc)}") from None
            if out:
                yield out
            if self._decoder.unconsumed_tail:
                data = self._decoder.unconsumed_tail
            elif self._decoder.eof:
                data = self._decoder.unused_data
            else:
                data = b""

    def _zstd(self, data: bytes) -> Iterator[bytes]:
        import zstandard

        while data:
            if self._decoder.eof:
                self._decoder = self._new()
            try:
                out = self._decoder.decompress(data)
            except zstandard.ZstdError as exc:
                raise DamagedStream(f"zstd stream corrupt in {self.label}: {exc}") from None
            self.seen_any = True
            if out:
                yield out
            data = self._decoder.unused_data if self._decoder.eof else b""

    def _lz4(self, data: bytes) -> Iterator[bytes]:
        # LZ4FrameDecompressor has an output limit (max_length): each call is bounded, and what it
        # has not decoded yet stays in it (needs_input False) until asked again with no new input
        while data or not self._decoder.needs_input:
            if self._decoder.eof:  # another frame follows (concatenated frames are one stream)
                self._decoder = self._new()
            try:
                out = self._decoder.decompress(data, max_length=_MAX_OUT)
            except RuntimeError as exc:  # python-lz4 reports corrupt frames and bad checksums so
                raise DamagedStream(f"lz4 stream corrupt in {self.label}: {exc}") from None
            self.seen_any = True
            if out:
                yield out
            data = self._decoder.unused_data if self._decoder.eof else b""
            if self._decoder.eof and not data:
                return

    def finish(self) -> Iterator[bytes]:
        if not self.seen_any:
            raise DamagedStream(f"{self.label} is empty (not a {self.compression} stream)")
        if self.compression == "gzip":
            rest = self._decoder.flush()
            if rest:
                yield rest
        if not self._decoder.eof:
            raise DamagedStream(f"{self.compression} stream of {self.label} ends early: the file is truncated")


def _zlib_reason(exc: Exception) -> str:
    text = str(exc)
    if ": " in text:  # zlib: "Error -3 while decompressing data: invalid block type"
        return text.split(": ", 1)[-1]
    return re.sub(r"^Error -?\d+ ", "", text).lower()  # ISA-L: "Error -6 Incorrect checksum found"


class DecompressedReader:
    """A read-only file object over decompressed chunks (for tarfile, shutil and subprocess feeding).

    ``source`` is a path (opened with :func:`iter_decompressed`) or chunks already decompressed.
    tarfile reads 10 KiB at a time from chunks of up to 4 MiB: the buffer is consumed by an offset,
    since slicing off the rest on every read copied megabytes per read (quadratic in the chunk size).
    """

    def __init__(self, source: Path | Iterator[bytes], cancel: CancelToken | None = None,
                 on_raw: RawObserver | None = None) -> None:
        self._chunks = iter_decompressed(source, cancel, on_raw) if isinstance(source, Path) else source
        self._buffer = b""
        self._offset = 0

    def read(self, size: int = -1) -> bytes:
        available = len(self._buffer) - self._offset
        if 0 <= size <= available:
            data = self._buffer[self._offset:self._offset + size]
            self._offset += size
            return data
        parts = [self._buffer[self._offset:]] if available else []
        wanted = size - available
        self._buffer, self._offset = b"", 0
        while size < 0 or wanted > 0:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            if size >= 0 and len(chunk) > wanted:
                parts.append(chunk[:wanted])
                self._buffer, self._offset = chunk, wanted
                break
            parts.append(chunk)
            wanted -= len(chunk)
        return b"".join(parts)

    def readable(self) -> bool:
        return True

    def drain(self) -> None:
        """Read to the end of the stream: its trailer is checked, and every stored byte was seen."""
        while self.read(CHUNK_SIZE):
            pass

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()  # a generator over an open file closes it now, not when collected

    def __enter__(self) -> DecompressedReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
