"""Stream-level integrity checks of backup files: tar listing, JSON parsing, hashing, checking tools
(decompression itself is :mod:`console.compressed`).

Every check streams the file in chunks (a multi-GB dump never sits in memory) and raises
:class:`console.errors.VerifyFailed` with a one-line reason. The per-kind verifiers build their
semantic checks (pg_restore, RDB checksum, definitions keys) on top of these.
"""

from __future__ import annotations

import collections
import subprocess
import tarfile
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterable, Mapping

from console import jsondoc
from console.artifacts import CHUNK_SIZE
from console.childenv import child_env
from console.compressed import DecompressedReader, RawObserver, gzip_zlib, iter_decompressed
from console.errors import VerifyFailed
from console.progress import CancelToken, check_cancel

MAX_JSON_BYTES = 512 * 1024 * 1024
"""A metadata or definitions file larger than this is not loaded whole."""


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
            stream.drain()
    except (tarfile.TarError, zlib.error, gzip_zlib.error, OSError) as exc:
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
