"""One lock per backup target, so two runs of the same backup never overlap.

The lock is an ``flock`` on ``BACKUP_DIR/.locks/<name>.lock``. The kernel drops it when the
holder dies, so a lock left by a dead process is never held: the file stays behind with the
dead holder's pid, which is how a stale lock is recognised and reported. The file's content
(pid, host, start time, what runs) lets the dashboard show runs started by cron.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from console import jsondoc
from console.errors import BackupFailed, LockHeld
from console.root import BackupRoot

@dataclass(frozen=True)
class LockInfo:
    name: str
    pid: int
    host: str
    started: float
    description: str


class BackupLock:
    """Exclusive, non-blocking lock; ``stale`` tells whether a dead holder's file was found."""

    def __init__(self, backup_dir: Path, name: str, description: str = "") -> None:
        self.path = BackupRoot(backup_dir).lock_file(name)
        self.name = name
        self.description = description or name
        self.stale: LockInfo | None = None
        self._fd: int | None = None

    def acquire(self) -> BackupLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:  # BACKUP_DIR missing and not creatable, read-only, full
            raise BackupFailed(f"cannot take the lock {self.path}: {exc.strerror or exc}",
                               hint="check BACKUP_DIR (backup_dir): it must exist or be creatable, and be writable") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_info(self.path, self.name)
            os.close(fd)
            since = time.strftime("%H:%M:%S", time.localtime(holder.started)) if holder else "?"
            who = f"pid {holder.pid} on {holder.host} since {since}" if holder else "another process"
            what = holder.description if holder else self.description
            raise LockHeld(
                f"{what} is already running ({who}); lock {self.path}",
                hint="wait for it to finish; the lock is released when that process ends",
            ) from None
        self.stale = _read_info(self.path, self.name)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(), "description": self.description}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)  # an empty file means "released cleanly"
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> BackupLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def _read_info(path: Path, name: str) -> LockInfo | None:
    try:
        data = jsondoc.loads(path.read_text() or "null")
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    return LockInfo(name, int(data.get("pid", 0)), str(data.get("host", "?")), float(data.get("started", 0)),
                    str(data.get("description", name)))


def held_locks(backup_dir: Path) -> list[LockInfo]:
    """Locks whose holder is alive on this host: the backups running now, from any face or cron.

    Only reads the lock files (a released lock is an empty file), never locks them, so polling
    from the dashboard can never make a starting backup see its lock as busy.
    """
    held: list[LockInfo] = []
    directory = BackupRoot(backup_dir).locks
    if not directory.is_dir():
        return held
    host = socket.gethostname()
    for path in sorted(directory.glob("*.lock")):
        info = _read_info(path, path.stem)
        if info is not None and info.host == host and pid_alive(info.pid):
            held.append(info)
    return held


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (one we may not signal exists too)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
