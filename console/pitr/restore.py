"""Restoring a cluster to a moment: unpack the chosen base backup into a new directory, make it
recover from the archive up to the target, and optionally start it on a free port and wait.

The copy gets ``archive_mode = off`` (it must never push into the live archive), its own port,
loopback-only listening, ``recovery.signal`` and a restore_command running ``wal get``. A live
cluster's data directory is never touched: a non-empty --to is refused unless --in-place --yes,
and then only when no postmaster runs there; its old contents are moved aside, not deleted.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.errors import ConsoleError, UsageError
from console.kinds.postgres.client import find_tool
from console.pitr.extract import extract
from console.pitr.walnames import parse_lsn
from console.progress import CancelToken, ProgressCallback, ProgressEvent, Throttle, check_cancel, emit

if TYPE_CHECKING:
    from console.config import PostgresSettings
    from console.pitr.plan import RestorePlan

MARKER = "# backup-console point-in-time restore"
POLL_SECONDS = 0.1
"""How often the wait asks the restored server how far it replayed: one local query; a few WAL
segments replay in well under a second, so a 0.3 s poll added a third of a second to most restores."""


class RecoveryFailed(ConsoleError):
    """The restored cluster did not reach the target (it stopped, or the wait ran out)."""


@dataclass(frozen=True)
class RestoreOptions:
    to: Path
    start: bool = False
    port: int | None = None
    in_place: bool = False
    yes: bool = False
    action: str = "promote"
    """recovery_target_action: promote (a usable cluster) or pause (inspect before deciding)."""
    program: str = "backup-console"
    """The backup-console the cluster's OS user runs in restore_command."""
    os_user: str = "postgres"
    """Owner of the restored directory when the console runs as root."""
    wait_seconds: float = 3600.0


@dataclass(frozen=True)
class RestoreOutcome:
    data_dir: Path
    port: int
    bytes_restored: int
    started: bool
    reached: bool
    in_recovery: bool | None
    replay_lsn: str | None
    stop_message: str | None
    connection: str | None
    log_path: Path | None
    moved_aside: Path | None
    duration_seconds: float

    def as_json(self) -> dict[str, Any]:
        return {key: (str(value) if isinstance(value, Path) else value) for key, value in self.__dict__.items()}


def postmaster_alive(data_dir: Path) -> int | None:
    """The pid of a postmaster running on ``data_dir``, or None."""
    try:
        first = (data_dir / "postmaster.pid").read_text().splitlines()[0]
        pid = int(first.strip())
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def check_destination(options: RestoreOptions) -> None:
    """Refuse, before anything is written, a destination that holds data we must not replace."""
    if options.action not in ("promote", "pause"):
        raise UsageError(f"--action must be promote or pause, not {options.action!r}")
    target = options.to
    if target.exists() and not target.is_dir():
        raise UsageError(f"--to {target} exists and is not a directory")
    occupied = target.is_dir() and any(target.iterdir())
    if not occupied:
        if options.in_place:
            raise UsageError(f"--in-place: {target} is empty; drop --in-place to restore into a new directory")
        return
    if not options.in_place:
        raise UsageError(f"--to {target} is not empty; restore into a new directory "
                         "(or --in-place --yes to replace a stopped cluster's data directory)")
    if not options.yes:
        raise UsageError(f"--in-place replaces {target}: add --yes after checking it is the right directory")
    pid = postmaster_alive(target)
    if pid is not None:
        raise UsageError(f"refused: a postmaster (pid {pid}) is running on {target}; stop it first")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def recovery_settings(plan: RestorePlan, options: RestoreOptions, port: int) -> dict[str, str]:
    parameter, value = plan.target.setting()
    archive_dir = shlex.quote(str(plan.archive_dir))
    return {
        "restore_command": f"{shlex.quote(options.program)} wal get --archive-dir {archive_dir} %f %p",
        parameter: value,
        "recovery_target_timeline": str(plan.timeline),
        "recovery_target_action": options.action,
        "archive_mode": "off",
        "archive_command": "",
        "port": str(port),
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": str(options.to) if len(str(options.to)) < 80 else "",
        "hot_standby": "on",
    }


def _prepare(data_dir: Path, settings: dict[str, str]) -> None:
    (data_dir / "standby.signal").unlink(missing_ok=True)
    (data_dir / "recovery.signal").write_text("")
    for name, default in (("postgresql.conf", ""), ("pg_hba.conf", "local all all peer\n"
                                                                  "host all all 127.0.0.1/32 scram-sha-256\n"),
                          ("pg_ident.conf", "")):
        if not (data_dir / name).exists():  # Debian keeps these in /etc/postgresql, outside the backup
            (data_dir / name).write_text(default)
    lines = [f"\n{MARKER} ({datetime.now().astimezone().isoformat(timespec='seconds')})\n"]
    lines += [f"{key} = {_quote(value)}\n" for key, value in settings.items()]
    with open(data_dir / "postgresql.auto.conf", "a") as handle:
        handle.writelines(lines)
    os.chmod(data_dir, 0o700)


def _chown(data_dir: Path, user: str) -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise UsageError(f"OS user {user!r} does not exist (it should own and run the restored cluster)") from None
    for root, dirs, files in os.walk(data_dir):
        for name in (*dirs, *files):
            os.lchown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)
    os.chown(data_dir, entry.pw_uid, entry.pw_gid)
    return entry.pw_uid, entry.pw_gid


def _as_user(argv: list[str], user: str) -> list[str]:
    return ["runuser", "-u", user, "--", *argv] if os.geteuid() == 0 else argv


def restore_to_target(plan: RestorePlan, options: RestoreOptions, pg: PostgresSettings,
                      on_progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> RestoreOutcome:
    """Write the restored directory (and start it with ``options.start``); the plan was checked."""
    started = time.perf_counter()
    progress = Throttle(on_progress, per_second=8)
    check_destination(options)
    moved: Path | None = None
    existed = options.to.is_dir()
    if options.in_place and existed and any(options.to.iterdir()):
        moved = options.to.with_name(f"{options.to.name}.before-pitr-{datetime.now():%Y%m%d_%H%M%S}")
        options.to.rename(moved)
    port = options.port or free_port()
    total = int(plan.base.metadata.get("raw_bytes") or 0) or None
    emit(progress, ProgressEvent("extract", 0, total, message=f"unpacking {plan.base.set_id} into {options.to}"))
    try:
        restored = extract(plan.base.tar_path, options.to,
                           lambda done: (check_cancel(cancel), emit(progress, ProgressEvent("extract", done, total))))
        emit(progress, ProgressEvent("extract", restored, total, finished=True))
        _prepare(options.to, recovery_settings(plan, options, port))
        _chown(options.to, options.os_user)
    except BaseException:
        # a half-unpacked directory must not look like a restored cluster
        _undo(options.to, existed and moved is None, moved)
        raise
    if not options.start:
        return RestoreOutcome(options.to, port, restored, False, False, None, None, None, None, None, moved,
                              time.perf_counter() - started)
    log_path = options.to / "pitr-recovery.log"
    pg_ctl = _pg_ctl(plan, pg)
    launched = subprocess.run(_as_user([pg_ctl, "-D", str(options.to), "-l", str(log_path), "-W", "start"],
                                       options.os_user), capture_output=True, text=True, timeout=60, cwd="/")
    if launched.returncode != 0:
        raise RecoveryFailed(f"pg_ctl start failed: {(launched.stderr or launched.stdout).strip()[:300]}")
    reached, in_recovery, replay = _wait(plan, options, pg, port, log_path, progress, cancel)
    connection = f"host=127.0.0.1 port={port} user={pg.user} dbname=postgres"
    return RestoreOutcome(options.to, port, restored, True, reached, in_recovery, replay, _stop_line(log_path),
                          connection, log_path, moved, time.perf_counter() - started)


def _undo(target: Path, keep_directory: bool, moved: Path | None) -> None:
    shutil.rmtree(target, ignore_errors=True)
    if keep_directory:
        target.mkdir(mode=0o700, exist_ok=True)
    if moved is not None:
        moved.rename(target)


def _pg_ctl(plan: RestorePlan, pg: PostgresSettings) -> str:
    major = int(plan.base.metadata.get("server_version_num", 0)) // 10000
    versioned = Path(f"/usr/lib/postgresql/{major}/bin")
    return find_tool("pg_ctl", pg.bin_dir or (str(versioned) if versioned.is_dir() else "")).path


def _stop_line(log_path: Path) -> str | None:
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return None
    found = re.findall(r"(recovery stopping [^\n]*|recovery has paused[^\n]*|FATAL: [^\n]*)", text)
    return found[-1] if found else None


def _wait(plan: RestorePlan, options: RestoreOptions, pg: PostgresSettings, port: int, log_path: Path,
          progress: ProgressCallback, cancel: CancelToken | None) -> tuple[bool, bool | None, str | None]:
    """Poll until recovery promoted (or paused at the target); fail when the postmaster stops."""
    import psycopg

    base_lsn = parse_lsn(plan.base.stop_lsn)
    goal = plan.target_lsn if plan.target_lsn is not None else plan.chain.end_lsn
    deadline = time.monotonic() + options.wait_seconds
    replay: str | None = None
    grace = time.monotonic() + 10
    while time.monotonic() < deadline:
        if cancel is not None and cancel.cancelled:
            raise RecoveryFailed("cancelled while waiting for recovery; the cluster keeps running "
                                 f"(pg_ctl -D {options.to} stop)")
        if postmaster_alive(options.to) is None and time.monotonic() > grace:
            raise RecoveryFailed(f"the restored cluster stopped: {_stop_line(log_path) or 'see ' + str(log_path)}")
        try:
            kwargs: dict[str, Any] = {"host": "127.0.0.1", "port": port, "user": pg.user, "dbname": "postgres",
                                      "connect_timeout": 3, "autocommit": True}
            if pg.password:
                kwargs["password"] = pg.password
            with psycopg.connect(**kwargs) as conn:
                row = conn.execute("SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, "
                                   "CASE WHEN pg_is_in_recovery() THEN pg_get_wal_replay_pause_state() END").fetchone()
        except psycopg.Error:
            time.sleep(POLL_SECONDS)
            continue
        assert row is not None
        in_recovery, replay, pause_state = bool(row[0]), row[1], row[2]
        if replay:
            emit(progress, ProgressEvent("replay", max(0, parse_lsn(replay) - base_lsn), max(1, goal - base_lsn),
                                         message=None))
        if not in_recovery:
            emit(progress, ProgressEvent("replay", 1, 1, message=_stop_line(log_path), finished=True))
            return True, False, replay
        if options.action == "pause" and pause_state == "paused":
            emit(progress, ProgressEvent("replay", 1, 1, message="paused at the target", finished=True))
            return True, True, replay
        time.sleep(POLL_SECONDS)
    raise RecoveryFailed(f"recovery did not reach the target within {options.wait_seconds:.0f} s "
                         f"(replayed to {replay or '?'}); the cluster keeps running on port {port}")

