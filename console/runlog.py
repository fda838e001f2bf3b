"""The run log: one JSON line per backup, verification or other action, in BACKUP_DIR/.runs.

Cron runs and TUI runs write the same log, so the dashboard can show the last result of each
kind however it was started, including runs that failed and left no backup set behind.
"""

from __future__ import annotations

import io
import json
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from console import jsondoc
from console.instances import DEFAULT
from console.root import BackupRoot



@dataclass(frozen=True)
class RunRecord:
    action: str
    """What ran: "backup", "verify", "restore", "upload", "retention"."""
    kind: str
    """postgres, redis, rabbitmq, config, certs (or "all")."""
    target: str
    status: str
    """"ok", "failed", "cancelled"."""
    started: float
    finished: float
    message: str = ""
    set_id: str | None = None
    force_reason: str | None = None
    pid: int = field(default_factory=os.getpid)
    host: str = field(default_factory=socket.gethostname)
    extra: dict[str, Any] = field(default_factory=dict)
    instance: str = DEFAULT
    """Which instance of ``kind`` (records written before instances existed read as ``default``)."""

    @property
    def duration_seconds(self) -> float:
        return max(0.0, self.finished - self.started)


def record_run(backup_dir: Path, record: RunRecord) -> None:
    """Append one record; a single write() of a short line is atomic with O_APPEND."""
    path = BackupRoot(backup_dir).run_log
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(asdict(record), sort_keys=True) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    except OSError as exc:  # disk full: say which file could not take the record
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    finally:
        os.close(fd)


def read_runs(backup_dir: Path, limit: int = 500) -> list[RunRecord]:
    """The newest ``limit`` records, oldest first; malformed lines are skipped."""
    path = BackupRoot(backup_dir).run_log
    if not path.is_file():
        return []
    lines = last_lines(path, limit)
    records = []
    known = set(RunRecord.__dataclass_fields__)
    for line in lines:
        try:
            data = jsondoc.loads(line)
            records.append(RunRecord(**{key: value for key, value in data.items() if key in known}))
        except (ValueError, TypeError):
            continue
    return records


TAIL_BLOCK_BYTES = 64 * 1024


def last_lines(path: Path, limit: int) -> list[str]:
    """``readlines()[-limit:]`` of the UTF-8 text file at ``path`` (undecodable bytes replaced), reading
    back from its end only as far as those lines reach: the dashboard reads the run log every few
    seconds, and the log only grows."""
    blocks: list[bytes] = []
    newlines = 0
    with open(path, "rb") as handle:
        start = handle.seek(0, os.SEEK_END)
        while start > 0 and newlines <= limit:
            step = min(TAIL_BLOCK_BYTES, start)
            start -= step
            handle.seek(start)
            blocks.append(handle.read(step))
            newlines += blocks[-1].count(b"\n")
    text = io.TextIOWrapper(io.BytesIO(b"".join(reversed(blocks))), encoding="utf-8", errors="replace")
    lines = text.readlines()
    if start > 0:
        lines = lines[1:]  # it may begin inside a line; more than ``limit`` whole ones follow it
    return lines[-limit:]


def last_runs_by_kind(backup_dir: Path, action: str = "backup") -> dict[str, RunRecord]:
    """The last run of each kind's default instance."""
    latest: dict[str, RunRecord] = {}
    for record in read_runs(backup_dir):
        if record.action == action and record.instance == DEFAULT:
            latest[record.kind] = record
    return latest


def now() -> float:
    return time.time()
