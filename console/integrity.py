"""Stream-level integrity checks of backup files: decompression, tar listing, JSON parsing, hashing.

Every check streams the file in chunks (a multi-GB dump never sits in memory) and raises
:class:`console.errors.VerifyFailed` with a one-line reason. The per-kind verifiers build their
semantic checks (pg_restore, RDB checksum, definitions keys) on top of these.
"""

from __future__ import annotations

import collections
import re
import subprocess
import tarfile
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, Mapping

from console import jsondoc
from console.artifacts import CHUNK_SIZE, iter_file
from console.childenv import child_env
from console.errors import VerifyFailed
from console.progress import CancelToken, check_cancel

_MAX_OUT = 4 * CHUNK_SIZE
_ZSTD_IN = 64 * 1024
"""zstd's decompressobj has no output limit: small input chunks bound its output."""
MAX_JSON_BYTES = 512 * 1024 * 1024
"""A metadata or definitions file larger than this is not loaded whole."""

RawObserver = Callable[[bytes], None]
"""Sees every byte of the file as stored, in order (verify hashes it: one read for hash and content)."""

try:  # ISA-L inflates gzip about twice as fast as zlib, same format and same error checks
    from isal import isal_zlib as _gzip_zlib
except ImportError:  # pragma: no cover - isal is a dependency; zlib is the fallback when it is missing
    _gzip_zlib = zlib  # type: ignore[misc]


def compression_of(name: str) -> str | None:
    """"gzip", "zstd" or None, from the file name (``.gz``/``.tgz``, ``.zst``)."""
    if name.endswith((".gz", ".tgz")):
        return "gzip"
    if name.endswith(".zst"):
        return "zstd"
    return None


def iter_decompressed(path: Path, cancel: CancelToken | None = None,
                      on_raw: RawObserver | None = None) -> Iterator[bytes]:
    """The decompressed content of ``path`` in chunks, checking the whole stream on the way.

    gzip members are checked against their CRC-32 and length trailers; a stream that stops
    before its end (a truncated file) is an error too. Uncompressed files are passed through.
    ``on_raw`` is handed every chunk as read from disk, before it is decompressed.

    Raises:
        VerifyFailed: corrupt or truncated stream, naming the file.
    """
    kind = compression_of(path.name)
    if kind == "gzip":
        yield from _gunzip(path, cancel, on_raw)
    elif kind == "zstd":
        yield from _unzstd(path, cancel, on_raw)
    else:
        for chunk in iter_file(path):
            check_cancel(cancel)
            if on_raw is not None:
                on_raw(chunk)
            yield chunk


def _gunzip(path: Path, cancel: CancelToken | None, on_raw: RawObserver | None = None) -> Iterator[bytes]:
    decoder = _gzip_zlib.decompressobj(31)
    seen_any = False
    for chunk in iter_file(path):
        check_cancel(cancel)
        if on_raw is not None:
            on_raw(chunk)
        seen_any = True
        data = chunk
        while data:
            if decoder.eof:  # another gzip member follows (gzip allows concatenated members)
                if not data.strip(b"\0"):
                    break  # trailing zero padding, which gzip -t accepts too
                decoder = _gzip_zlib.decompressobj(31)
            try:
                out = decoder.decompress(data, _MAX_OUT)
            except (zlib.error, _gzip_zlib.error) as exc:
                raise VerifyFailed(f"gzip stream corrupt in {path.name}: {_zlib_reason(exc)}") from None
            if out:
                yield out
            if decoder.unconsumed_tail:
                data = decoder.unconsumed_tail
            elif decoder.eof:
                data = decoder.unused_data
            else:
                data = b""
    if not seen_any:
        raise VerifyFailed(f"{path.name} is empty (not a gzip stream)")
    rest = decoder.flush()
    if rest:
        yield rest
    if not decoder.eof:
        raise VerifyFailed(f"gzip stream of {path.name} ends early: the file is truncated")


def _zlib_reason(exc: Exception) -> str:
    text = str(exc)
    if ": " in text:  # zlib: "Error -3 while decompressing data: invalid block type"
        return text.split(": ", 1)[-1]
    return re.sub(r"^Error -?\d+ ", "", text).lower()  # ISA-L: "Error -6 Incorrect checksum found"


def _unzstd(path: Path, cancel: CancelToken | None, on_raw: RawObserver | None = None) -> Iterator[bytes]:
    import zstandard

    decoder = zstandard.ZstdDecompressor().decompressobj()
    seen_any = False
    for chunk in iter_file(path, _ZSTD_IN):
        check_cancel(cancel)
        if on_raw is not None:
            on_raw(chunk)
        data = chunk
        while data:
            if decoder.eof:
                decoder = zstandard.ZstdDecompressor().decompressobj()
            try:
                out = decoder.decompress(data)
            except zstandard.ZstdError as exc:
                raise VerifyFailed(f"zstd stream corrupt in {path.name}: {exc}") from None
            seen_any = True
            if out:
                yield out
            data = decoder.unused_data if decoder.eof else b""
    if not seen_any:
        raise VerifyFailed(f"{path.name} is empty (not a zstd stream)")
    if not decoder.eof:
        raise VerifyFailed(f"zstd stream of {path.name} ends early: the file is truncated")


def stream_check(path: Path, cancel: CancelToken | None = None, tail_bytes: int = 0,
                 on_raw: RawObserver | None = None) -> tuple[int, bytes]:
    """Decompress the whole file; return (decompressed size, its last ``tail_bytes`` bytes)."""
    total = 0
    tail = b""
    for chunk in iter_decompressed(path, cancel, on_raw):
        total += len(chunk)
        if tail_bytes:
            # slice first: concatenating every 4 MiB chunk to the tail would copy the stream once more
            tail = chunk[-tail_bytes:] if len(chunk) >= tail_bytes else (tail + chunk)[-tail_bytes:]
    return total, tail


def head_bytes(path: Path, count: int, cancel: CancelToken | None = None) -> bytes:
    """The first ``count`` decompressed bytes (the rest of the stream is not read)."""
    head = b""
    for chunk in iter_decompressed(path, cancel):
        head += chunk
        if len(head) >= count:
            break
    return head[:count]


class DecompressedReader:
    """A read-only file object over :func:`iter_decompressed` (for tarfile and subprocess feeding).

    tarfile reads 10 KiB at a time from chunks of up to 4 MiB: the buffer is consumed by an offset,
    since slicing off the rest on every read copied megabytes per read (quadratic in the chunk size).
    """

    def __init__(self, path: Path, cancel: CancelToken | None = None, on_raw: RawObserver | None = None) -> None:
        self._chunks = iter_decompressed(path, cancel, on_raw)
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


def tar_listing(source: Path | IO[bytes], label: str, cancel: CancelToken | None = None,
                on_raw: RawObserver | None = None) -> list[str]:
    """Read a tar archive through to its end (every member's data too); return the member names.

    ``source`` is a path (compression from its name) or a stream (gzip detected from its bytes).
    """
    stream: Any = DecompressedReader(source, cancel, on_raw) if isinstance(source, Path) else source
    names: list[str] = []
    try:
        with tarfile.open(fileobj=stream, mode="r|" if isinstance(source, Path) else "r|*") as archive:
            for member in archive:
                check_cancel(cancel)
                names.append(member.name)
                if member.isfile():
                    handle = archive.extractfile(member)
                    if handle is not None:
                        while handle.read(CHUNK_SIZE):
                            check_cancel(cancel)
        if isinstance(source, Path):
            # to the end of the compressed stream: its trailer is checked, and every byte was seen
            while stream.read(CHUNK_SIZE):
                check_cancel(cancel)
    except (tarfile.TarError, zlib.error, _gzip_zlib.error, OSError) as exc:
        raise VerifyFailed(f"tar archive {label} is unreadable: {exc}") from None
    except EOFError:
        raise VerifyFailed(f"tar archive {label} ends early: the file is truncated") from None
    return names


def load_json(path: Path, cancel: CancelToken | None = None) -> Any:
    """Parse a JSON file (plain, .gz or .zst) after checking its compression stream."""
    data = bytearray()
    for chunk in iter_decompressed(path, cancel):
        data += chunk
        if len(data) > MAX_JSON_BYTES:
            raise VerifyFailed(f"{path.name} is larger than {MAX_JSON_BYTES // (1024 * 1024)} MB decompressed")
    try:
        return jsondoc.loads(bytes(data))
    except ValueError as exc:
        raise VerifyFailed(f"{path.name} is not valid JSON ({exc})") from None


@dataclass(frozen=True)
class ToolRun:
    """How a checking subprocess ended: exit code, stdout line count, the tail of stderr."""

    returncode: int
    stdout_lines: int
    stderr_tail: tuple[str, ...]

    def error_line(self) -> str:
        for line in self.stderr_tail:
            if "error" in line.lower() or "fatal" in line.lower():
                return line.strip()
        return self.stderr_tail[-1].strip() if self.stderr_tail else f"exit code {self.returncode}"


def run_tool(argv: list[str], env: Mapping[str, str] | None = None, feed: Iterable[bytes] | None = None,
             cancel: CancelToken | None = None) -> ToolRun:
    """Run a checking tool, streaming ``feed`` into its stdin and counting its stdout lines.

    Nothing is buffered whole: stdout is counted line by line, stderr keeps its last lines. A
    cancel kills the tool. An error raised by ``feed`` (a corrupt compressed stream) is raised
    here after the tool has ended.
    """
    process = subprocess.Popen(argv, stdin=subprocess.PIPE if feed is not None else subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(env) if env else child_env())
    tail: collections.deque[str] = collections.deque(maxlen=20)
    feed_errors: list[BaseException] = []

    def drain_stderr() -> None:
        assert process.stderr is not None
        for raw in process.stderr:
            tail.append(raw.decode("utf-8", "replace").rstrip())

    def pump_stdin() -> None:
        assert process.stdin is not None
        try:
            for chunk in feed or ():
                process.stdin.write(chunk)
        except (BrokenPipeError, ValueError):
            pass  # the tool stopped reading: its exit code says why
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            feed_errors.append(exc)
            process.kill()
        finally:
            try:
                process.stdin.close()
            except OSError:
                pass

    def watch_cancel() -> None:
        while process.poll() is None:
            if cancel is not None and cancel.cancelled:
                process.kill()
                return
            time.sleep(0.1)

    threads = [threading.Thread(target=drain_stderr, daemon=True), threading.Thread(target=watch_cancel, daemon=True)]
    if feed is not None:
        threads.append(threading.Thread(target=pump_stdin, daemon=True))
    for thread in threads:
        thread.start()
    lines = 0
    assert process.stdout is not None
    try:
        for _line in process.stdout:
            lines += 1
        returncode = process.wait()
    except BaseException:  # Ctrl-C or a bug: never leave the tool running behind us
        process.kill()
        process.wait()
        raise
    for thread in threads:
        thread.join()
    check_cancel(cancel)
    if feed_errors:
        raise feed_errors[0]
    return ToolRun(returncode, lines, tuple(tail))
