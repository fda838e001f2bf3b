"""WAL archiving: its status (pg_stat_archiver, settings, the archive directory) and how to enable it.

``wal_status`` also remembers the last ``failed_count`` it saw in BACKUP_DIR/.state, so a
scheduled check alerts once per new failure instead of forever after an old one.
``enable_statements`` are the manual's ALTER SYSTEM statements; ``apply_enable`` runs them and
says honestly which settings wait for a restart (archive_mode and wal_level do: the manual's
"reload" is not enough).
"""

from __future__ import annotations

import os
import re
import shlex
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from console import jsondoc
from console.artifacts import write_json_atomic
from console.errors import ReadOnlyRefused, ServiceUnreachable
from console.probes.postgres import connect, describe_error

if TYPE_CHECKING:
    from console.config import Settings

STATE_FILE = "wal-status.json"
_WAL_NAME = re.compile(r"^(?:[0-9A-F]{24}(?:\.partial|\.[0-9A-F]{8}\.backup)?|[0-9A-F]{8}\.history)(?:\.zst)?$")
"""Archived WAL files, plain or compressed by ``wal push`` (its .sha256 sidecars are not counted)."""

_STATUS_SQL = """
SELECT archived_count, failed_count, last_archived_wal, last_archived_time, last_failed_wal, last_failed_time,
       stats_reset, current_setting('wal_level'), current_setting('archive_mode'),
       current_setting('archive_command'), current_setting('archive_timeout'),
       (SELECT coalesce(array_agg(name ORDER BY name), '{}') FROM pg_settings WHERE pending_restart)
  FROM pg_stat_archiver
"""


@dataclass(frozen=True)
class WalFile:
    name: str
    size_bytes: int
    modified: float


@dataclass(frozen=True)
class WalStatus:
    archived_count: int
    failed_count: int
    last_archived_wal: str | None
    last_archived_time: str | None
    last_failed_wal: str | None
    last_failed_time: str | None
    wal_level: str
    archive_mode: str
    archive_command: str
    archive_timeout: str
    pending_restart: list[str]
    archive_dir: str | None
    archive_dir_readable: bool
    archive_files: int
    archive_bytes: int
    newest_files: list[WalFile] = field(default_factory=list)
    previous_failed_count: int | None = None
    new_failures: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def archive_dir_from_command(command: str) -> str | None:
    """The directory an archive_command like ``test ! -f /a/%f && cp %p /a/%f`` copies into."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    if "--archive-dir" in words[:-1]:  # backup-console wal push --archive-dir DIR %p %f
        return words[words.index("--archive-dir") + 1]
    for word in reversed(words):
        if word.endswith("/%f") and word.startswith("/"):
            return word[: -len("/%f")]
    return None


def _scan_dir(directory: Path, newest: int = 10) -> tuple[bool, int, int, list[WalFile]]:
    files: list[WalFile] = []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_file(follow_symlinks=False) and _WAL_NAME.match(entry.name):
                    stat = entry.stat(follow_symlinks=False)
                    files.append(WalFile(entry.name, stat.st_size, stat.st_mtime))
    except OSError:
        return False, 0, 0, []
    files.sort(key=lambda item: (item.modified, item.name))
    return True, len(files), sum(item.size_bytes for item in files), files[-newest:][::-1]


def _iso(value: Any) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def wal_status(settings: Settings, remember: bool = True) -> WalStatus:
    """Read pg_stat_archiver and the archiving settings; compare failures with the last check.

    Raises:
        ServiceUnreachable: the server does not answer.
    """
    pg = settings.postgres
    try:
        with connect(pg, settings.timeout_seconds) as conn:
            row = conn.execute(_STATUS_SQL).fetchone()
    except psycopg.Error as exc:
        raise ServiceUnreachable(f"cannot read WAL archiving status: {describe_error(exc, pg)[1]}") from None
    assert row is not None
    (archived, failed, last_wal, last_time, failed_wal, failed_time, _reset, wal_level, archive_mode, command,
     timeout, pending) = row
    directory = pg.wal_archive_dir or archive_dir_from_command(command)
    readable, count, total, newest = _scan_dir(Path(directory)) if directory else (False, 0, 0, [])
    state_path = settings.root.state_file(STATE_FILE)
    previous = _read_state(state_path, pg.host, pg.port)
    baseline = previous if previous is not None and previous <= failed else 0  # stats were reset: count from 0
    new_failures = max(0, failed - baseline)
    problems = []
    if archive_mode == "off":
        problems.append("archiving is off (archive_mode = off)")
    elif wal_level == "minimal":
        problems.append("wal_level is minimal: WAL cannot be archived")
    if "archive_mode" in pending or "wal_level" in pending:
        problems.append(f"settings wait for a server restart: {', '.join(pending)}")
    if new_failures:
        since = "since the last check" if previous is not None else "in total (first check)"
        problems.append(f"{new_failures} archiving failure(s) {since}; last failed WAL {failed_wal}")
    if directory and not readable:
        problems.append(f"archive directory {directory} is not readable here")
    if remember:
        state_path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(state_path, {"host": pg.host, "port": pg.port, "failed_count": failed,
                                       "archived_count": archived, "checked_at": time.time()})
    return WalStatus(archived, failed, last_wal, _iso(last_time), failed_wal, _iso(failed_time), wal_level,
                     archive_mode, command, timeout, list(pending), directory, readable, count, total, newest,
                     previous, new_failures, problems)


def _read_state(path: Path, host: str, port: int) -> int | None:
    try:
        data = jsondoc.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("host") != host or data.get("port") != port:
        return None
    value = data.get("failed_count")
    return value if isinstance(value, int) else None


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def enable_statements(archive_dir: str, archive_timeout: int = 300, program: str | None = None) -> list[str]:
    """The manual's ALTER SYSTEM statements for archiving into ``archive_dir``.

    With ``program`` (a backup-console the server's OS user can run) the archive_command is
    ``wal push``: atomic, checksummed and compressed; without it, the manual's ``cp``.
    """
    if program:
        command = f"{shlex.quote(program)} wal push --archive-dir {shlex.quote(archive_dir.rstrip('/'))} %p %f"
    else:
        target = shlex.quote(archive_dir.rstrip("/") + "/") + "%f"
        command = f"test ! -f {target} && cp %p {target}"
    return [
        "ALTER SYSTEM SET wal_level = replica",
        "ALTER SYSTEM SET archive_mode = on",
        f"ALTER SYSTEM SET archive_command = {_literal(command)}",
        f"ALTER SYSTEM SET archive_timeout = {int(archive_timeout)}",
        "SELECT pg_reload_conf()",
    ]


@dataclass(frozen=True)
class EnableResult:
    statements: list[str]
    pending_restart: list[str]
    """Settings written but not in effect until the server restarts."""


def apply_enable(settings: Settings, archive_dir: str, program: str | None = None) -> EnableResult:
    """Run the statements (superuser needed); read-only mode refuses."""
    if settings.read_only:
        raise ReadOnlyRefused("wal enable --apply")
    pg = settings.postgres
    statements = enable_statements(archive_dir, program=program)
    try:
        with connect(pg, settings.timeout_seconds) as conn:
            for statement in statements:
                conn.execute(statement)  # type: ignore[arg-type]
            time.sleep(0.5)  # pg_reload_conf() signals the postmaster; give it a moment
            rows = conn.execute("SELECT name FROM pg_settings WHERE pending_restart ORDER BY name").fetchall()
    except psycopg.Error as exc:
        raise ServiceUnreachable(f"cannot enable WAL archiving: {describe_error(exc, pg)[1]}") from None
    return EnableResult(statements, [row[0] for row in rows])
