"""Taking and fetching a Redis snapshot: BGSAVE done right, then the RDB from disk or the network.

BGSAVE is confirmed by ``rdb_bgsave_in_progress`` going to 0, a LASTSAVE newer than the one
before our request, and ``rdb_last_bgsave_status:ok`` (the manual's "LASTSAVE within 10 s" loop
may copy an old dump). The RDB is read from the data directory when it is on this machine,
otherwise fetched over the replication protocol with ``redis-cli --rdb -``, whose password
travels only in the child's REDISCLI_AUTH environment variable.
"""

from __future__ import annotations

import ipaddress
import os
import re
import select
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable

import redis

from console.childenv import child_env
from console.errors import BackupFailed
from console.progress import CancelToken, ProgressCallback, ProgressEvent, check_cancel, emit

if TYPE_CHECKING:
    from console.config import RedisSettings

CHUNK_SIZE = 1024 * 1024
EOF_MARK_SIZE = 40
"""A diskless transfer ends with a 40-byte marker that redis-cli writing to stdout leaves in place."""
POLL_SECONDS = 0.1


@dataclass(frozen=True)
class Layout:
    """Where the server keeps its files, and whether this machine can read them."""

    server_dir: str | None
    local_dir: Path | None
    """The data dir as a local path, or None when it is not on this machine."""
    dbfilename: str
    aof_enabled: bool
    appenddirname: str | None
    """Redis 7's AOF directory; None for a single appendonly.aof (Redis < 7)."""
    appendfilename: str
    config_readable: bool
    why_not_local: str | None = None


def where(rs: RedisSettings) -> str:
    return f"{rs.host}:{rs.port}"


def read_layout(conn: redis.Redis, rs: RedisSettings, info: dict[str, Any]) -> Layout:
    """CONFIG GET dir/dbfilename/append*; falls back to defaults when CONFIG is renamed or denied."""
    major = int(str(info.get("redis_version", "7")).split(".")[0] or 7)
    values: dict[str, str] = {}
    config_readable = True
    try:
        for name in ("dir", "dbfilename", "appendonly", "appenddirname", "appendfilename"):
            values.update(conn.config_get(name))
    except redis.exceptions.ResponseError:
        config_readable = False  # renamed-command / ACL: the defaults and redis.data_dir must do
    dbfilename = values.get("dbfilename") or "dump.rdb"
    appenddirname = values.get("appenddirname") or ("appendonlydir" if major >= 7 else None)
    aof_enabled = bool(int(info.get("aof_enabled", 0)))
    server_dir = values.get("dir")
    local_dir, why = _local_dir(rs, server_dir)
    return Layout(server_dir, local_dir, dbfilename, aof_enabled, appenddirname,
                  values.get("appendfilename") or "appendonly.aof", config_readable, why)


def _local_dir(rs: RedisSettings, server_dir: str | None) -> tuple[Path | None, str | None]:
    if rs.data_dir:
        path = Path(rs.data_dir).expanduser()
        return (path, None) if path.is_dir() else (None, f"redis.data_dir {path} is not a directory here")
    if not server_dir:
        return None, "the data dir is unknown (CONFIG GET unavailable and redis.data_dir not set)"
    if not _is_loopback(rs.host):
        return None, f"Redis runs on {rs.host}, not on this machine (set redis.data_dir if its data dir is mounted here)"
    path = Path(server_dir)
    if not path.is_dir() or not os.access(path, os.R_OK | os.X_OK):
        return None, f"data dir {path} is not readable here"
    return path, None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- BGSAVE -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SaveOutcome:
    lastsave: int
    """Server time (epoch seconds) of our completed save."""
    seconds: float
    waited_for_other: bool


def bgsave(conn: redis.Redis, rs: RedisSettings, timeout: float, on_progress: ProgressCallback | None,
           cancel: CancelToken | None, before_issue: Callable[[], None] | None = None) -> SaveOutcome:
    """Run our own BGSAVE and wait until it is complete and good.

    Args:
        before_issue: called right before BGSAVE is sent (after any running save finished), so
            the caller can note the state of the RDB file our save will replace.

    Raises:
        BackupFailed: BGSAVE refused, failed (rdb_last_bgsave_status:err) or timed out.
    """
    started = time.monotonic()
    deadline = started + timeout
    waited = False
    emit(on_progress, ProgressEvent("bgsave", message=f"BGSAVE on {where(rs)}"))
    while True:
        if _wait_until_idle(conn, rs, deadline, timeout, on_progress, cancel):
            waited = True
        before = _lastsave(conn)
        _wait_for_next_second(conn, before)
        if before_issue is not None:
            before_issue()
        try:
            conn.execute_command("BGSAVE")
            break
        except redis.exceptions.ResponseError as exc:
            text = str(exc)
            if "in progress" in text or "child process" in text.lower():
                waited = True
                emit(on_progress, ProgressEvent("bgsave", message=f"another save is running ({text}); waiting for it, then starting ours"))
                continue
            raise BackupFailed(f"BGSAVE refused by {where(rs)}: {text}") from None
    while True:
        check_cancel(cancel)
        if time.monotonic() > deadline:
            raise BackupFailed(f"BGSAVE on {where(rs)} did not finish within {timeout:g} s",
                               hint="raise redis.bgsave_timeout_seconds, or look at the Redis log")
        info = conn.info("persistence")
        if not int(info.get("rdb_bgsave_in_progress", 0)):
            status = info.get("rdb_last_bgsave_status")
            if status != "ok":
                raise BackupFailed(
                    f"BGSAVE failed on {where(rs)} (rdb_last_bgsave_status:{status})",
                    hint="the Redis log says why: usually the data dir is not writable, the disk is full, or the "
                         "save's child process was killed (the OOM killer: see dmesg)")
            lastsave = _lastsave(conn)
            if lastsave > before:
                keys = sum(int(db.get("keys", 0)) for db in conn.info("keyspace").values() if isinstance(db, dict))
                emit(on_progress, ProgressEvent("bgsave", keys, keys, unit="keys", finished=True,
                                                message=f"BGSAVE done in {time.monotonic() - started:.1f} s"))
                return SaveOutcome(lastsave, time.monotonic() - started, waited)
        else:
            done = int(info.get("current_save_keys_processed", 0))
            total = int(info.get("current_save_keys_total", 0)) or None
            emit(on_progress, ProgressEvent("bgsave", done, total, unit="keys"))
        time.sleep(POLL_SECONDS)


def _wait_until_idle(conn: redis.Redis, rs: RedisSettings, deadline: float, timeout: float,
                     on_progress: ProgressCallback | None, cancel: CancelToken | None) -> bool:
    """Wait while another save or AOF rewrite runs; True when there was one."""
    waited = False
    while True:
        info = conn.info("persistence")
        busy = int(info.get("rdb_bgsave_in_progress", 0)) or int(info.get("aof_rewrite_in_progress", 0))
        if not busy:
            return waited
        if not waited:
            emit(on_progress, ProgressEvent("bgsave", message="a background save or AOF rewrite is running: waiting for it"))
        waited = True
        check_cancel(cancel)
        if time.monotonic() > deadline:
            raise BackupFailed(f"{where(rs)} was still busy with another save after {timeout:g} s",
                               hint="raise redis.bgsave_timeout_seconds")
        time.sleep(POLL_SECONDS)


def _lastsave(conn: redis.Redis) -> int:
    """LASTSAVE as epoch seconds (redis-py turns it into a naive local datetime)."""
    value = conn.lastsave()
    return int(value.timestamp()) if hasattr(value, "timestamp") else int(value)


def _wait_for_next_second(conn: redis.Redis, lastsave: int) -> None:
    """LASTSAVE has one-second resolution: start only once the server clock is past it, so ours is newer."""
    seconds, micros = conn.time()
    if seconds <= lastsave:
        time.sleep(min(1.1, (lastsave + 1 - seconds) - micros / 1e6 + 0.01))


# --- the RDB from the local data dir ---------------------------------------------------------------


def file_identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def open_local_rdb(path: Path, before: tuple[int, int] | None, issued_at: float) -> tuple[IO[bytes] | None, str | None]:
    """Open the RDB our BGSAVE wrote; (None, why) when the local file is not it.

    A save replaces the file by rename, so ours is a different inode (or mtime) than the one
    seen before BGSAVE was sent, and not older than that moment.
    """
    try:
        handle = open(path, "rb")  # noqa: SIM115 - returned to the caller
    except OSError as exc:
        return None, f"{path} is not readable here ({exc.strerror})"
    st = os.fstat(handle.fileno())
    if before is not None and (st.st_ino, st.st_mtime_ns) == before:
        handle.close()
        return None, f"{path} was not replaced by our BGSAVE (a different server's file?)"
    if st.st_mtime < issued_at - 5:
        handle.close()
        return None, f"{path} is older than our BGSAVE"
    return handle, None


def copy_stream(source: IO[bytes], sink: IO[bytes], total: int | None, phase: str,
                on_progress: ProgressCallback | None, cancel: CancelToken | None) -> int:
    done = 0
    while chunk := source.read(CHUNK_SIZE):
        check_cancel(cancel)
        sink.write(chunk)
        done += len(chunk)
        emit(on_progress, ProgressEvent(phase, done, total))
    return done


# --- the RDB over the network (redis-cli --rdb -) ----------------------------------------------------


def redis_cli() -> str | None:
    return shutil.which("redis-cli")


def child_environment(rs: RedisSettings) -> dict[str, str]:
    """The child's environment: the password only here (REDISCLI_AUTH), never on its argv."""
    return child_env({"REDISCLI_AUTH": rs.password} if rs.password else {})


def fetch_rdb(rs: RedisSettings, sink: IO[bytes], idle_timeout: float, on_progress: ProgressCallback | None,
              cancel: CancelToken | None) -> int:
    """Stream the server's RDB into ``sink`` with ``redis-cli --rdb -``; returns the RDB size.

    Raises:
        BackupFailed: redis-cli missing, refused, silent for ``idle_timeout`` seconds, or ended early.
    """
    binary = redis_cli()
    if binary is None:
        raise BackupFailed(f"cannot fetch the RDB from {where(rs)}: redis-cli is not installed",
                           hint="install redis-tools, or set redis.data_dir to a local copy of Redis's data dir")
    version = _cli_version(binary)
    if version is not None and version < (7, 0):
        raise BackupFailed(f"redis-cli {'.'.join(map(str, version))} cannot stream an RDB to stdout (7.0 or newer needed)",
                           hint="install redis-tools 7, or set redis.data_dir to a local copy of Redis's data dir")
    argv = [binary, "-h", rs.host, "-p", str(rs.port), "--rdb", "-"]
    if rs.username:
        argv[1:1] = ["--user", rs.username]
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=child_environment(rs))
    messages: list[str] = []
    reader = threading.Thread(target=_collect_lines, args=(process.stderr, messages), daemon=True)
    reader.start()
    try:
        received, held = _pump(process, sink, idle_timeout, messages, on_progress, cancel, rs)
        returncode = process.wait(timeout=idle_timeout)
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        reader.join(5)
    if returncode != 0:
        raise BackupFailed(f"redis-cli --rdb from {where(rs)} failed: {_last_error(messages)}")
    payload = _payload_size(messages)
    written = received - len(held)
    if payload is None or not 0 <= payload - written <= len(held):
        raise BackupFailed(f"redis-cli --rdb from {where(rs)} ended unexpectedly after {received} bytes: {_last_error(messages)}")
    sink.write(held[: payload - written])
    return payload


def _cli_version(binary: str) -> tuple[int, int] | None:
    """(major, minor) of redis-cli, or None when it cannot be told."""
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=5, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"(\d+)\.(\d+)", done.stdout)
    return (int(found.group(1)), int(found.group(2))) if found else None


def _pump(process: subprocess.Popen[bytes], sink: IO[bytes], idle_timeout: float, messages: list[str],
          on_progress: ProgressCallback | None, cancel: CancelToken | None, rs: RedisSettings) -> tuple[int, bytes]:
    """Copy stdout to ``sink`` holding back the last 40 bytes (a possible EOF marker)."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    held = b""
    received = 0
    last_data = time.monotonic()
    while True:
        check_cancel(cancel)
        ready, _, _ = select.select([fd], [], [], 0.25)
        if not ready:
            if time.monotonic() - last_data > idle_timeout:
                raise BackupFailed(f"redis-cli --rdb from {where(rs)} sent nothing for {idle_timeout:g} s",
                                   hint="raise redis.bgsave_timeout_seconds, or look at the Redis log")
            continue
        chunk = os.read(fd, CHUNK_SIZE)
        if not chunk:
            return received, held
        last_data = time.monotonic()
        received += len(chunk)
        data = held + chunk
        if len(data) > EOF_MARK_SIZE:
            sink.write(data[:-EOF_MARK_SIZE])
            held = data[-EOF_MARK_SIZE:]
        else:
            held = data
        emit(on_progress, ProgressEvent("transfer", received, _announced_size(messages)))


def _collect_lines(stream: IO[bytes] | None, lines: list[str]) -> None:
    if stream is None:
        return
    for raw in stream:
        lines.append(raw.decode("utf-8", "replace").strip())
        if len(lines) > 100:
            del lines[:50]


def _announced_size(messages: list[str]) -> int | None:
    for line in messages:
        found = re.search(r"writing (\d+) bytes", line)
        if found:
            return int(found.group(1))
    return None


def _payload_size(messages: list[str]) -> int | None:
    for line in reversed(messages):
        found = re.search(r"after (\d+) bytes", line)
        if found:
            return int(found.group(1))
    return _announced_size(messages)


def _last_error(messages: list[str]) -> str:
    meaningful = [line for line in messages if line and not line.startswith("sending REPLCONF")]
    return meaningful[-1] if meaningful else "no message"
