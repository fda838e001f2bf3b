"""Backup screen layout at 80x24: a Redis backup running and just finished, and a failed pre-flight.

The Redis runs replay fixed checks, events and times (the shape of a real run, scaled up to a
production-sized instance), because a real one differs every time in set id, checksums, ports and
durations; behaviour against a real server is in tests/screens/test_backup_screen_redis.py. The
failed pre-flight is real: PostgreSQL checks against a port where nothing listens.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
from pathlib import Path

import pytest

from console.artifacts import ArtifactInfo
from console.kinds.base import BackupResult
from console.kinds.registry import get_check
from console.preflight import CheckResult
from console.progress import ProgressEvent
from console.status import Status
from screens.app import BackupConsoleApp
from screens.backup_job import BackupEngine
from tests.screens.conftest import fixed_prober, frozen_clock, redraw_tables, wait_until

STARTED = 1000.0
"""The scripted monotonic clock's reading when the backup starts."""
STAMP = "20261125_030000"
RDB_BYTES = 412_337_152
RDB_GZ_BYTES = 138_912_034
AOF_BYTES = 96_468_992
TRANSFER_PAUSE = 10.1
"""Seconds into the run where the "running" snapshot holds the transfer (46 % done)."""

REDIS_CHECKS = {
    "redis.healthy": (Status.OK, "PONG from 127.0.0.1:6379 in 0.4 ms, Redis 7.0.15"),
    "redis.memory": (Status.OK, "used 1.2 GB = 31 % of maxmemory 4.0 GB < 90 %"),
    "redis.disk_space": (Status.OK, "free 41.0 GB >= 2 x used memory (2.5 GB)"),
    "redis.destination_writable": (Status.OK, "/backups/redis is writable"),
    "redis.replication": (Status.OK, "1 replica(s) online, max lag 0 s <= 10 s"),
    "redis.aof": (Status.OK, "last write ok, last rewrite ok"),
    "common.s3_reachable": (Status.SKIP, "not uploading in this run"),
}

SCRIPT: list[tuple[float, ProgressEvent]] = [
    (0.0, ProgressEvent("preflight", message="running pre-flight checks")),
    (0.3, ProgressEvent("bgsave", message="BGSAVE on 127.0.0.1:6379")),
    (4.1, ProgressEvent("bgsave", 1_204_311, 1_204_311, unit="keys", finished=True, message="BGSAVE done in 3.8 s")),
    (4.1, ProgressEvent("transfer", 0, RDB_BYTES, message="copying /var/lib/redis/dump.rdb")),
    (TRANSFER_PAUSE, ProgressEvent("transfer", 187_695_104, RDB_BYTES)),
    (17.3, ProgressEvent("transfer", RDB_BYTES, RDB_BYTES, finished=True,
                         message="RDB 412.3 MB compressed to 138.9 MB (local file /var/lib/redis/dump.rdb)")),
    (17.3, ProgressEvent("validate", 0, RDB_GZ_BYTES)),
    (19.6, ProgressEvent("validate", RDB_GZ_BYTES, RDB_GZ_BYTES, finished=True)),
    (19.9, ProgressEvent("validate", message="RDB version 10, CRC64 ok, redis-check-rdb ok (1204311 keys read)")),
    (19.9, ProgressEvent("aof", 0, AOF_BYTES, message="archiving /var/lib/redis/appendonlydir (2 files + manifest)")),
    (22.7, ProgressEvent("aof", AOF_BYTES, AOF_BYTES, finished=True)),
    (22.9, ProgressEvent("metadata", finished=True, message=f"wrote snapshot_{STAMP}.json")),
]

STOPPED_PORT = 1
"""Privileged, so no test server ever listens there: connecting is refused as by a stopped server."""
PREFLIGHT_BACKUP_DIR = Path("/tmp/bc-snapshot-backup-preflight")
"""Fixed because its path is evidence on screen; nothing is written there."""


def _artifact(name: str, size_bytes: int) -> ArtifactInfo:
    return ArtifactInfo(name, Path("/backups/redis") / name, size_bytes, hashlib.sha256(name.encode()).hexdigest(),
                        size_bytes)


class ScriptedRedisBackup:
    """A BackupEngine that replays SCRIPT on its own clock; with ``hold_at`` it stays running there."""

    def __init__(self, hold_at: float | None = None) -> None:
        self.now = STARTED
        self.hold_at = hold_at
        self.holding = threading.Event()
        self.engine = BackupEngine(preflight=self.preflight, execute=self.execute, clock=lambda: self.now)

    def preflight(self, settings, request) -> list[CheckResult]:  # noqa: ANN001
        return [CheckResult(check_id, get_check(check_id).title, status, evidence)
                for check_id, (status, evidence) in REDIS_CHECKS.items()]

    def execute(self, settings, request, on_progress=None, cancel=None) -> BackupResult:  # noqa: ANN001
        for at, event in SCRIPT:
            if self.hold_at is not None and at > self.hold_at:
                self._hold()
            self.now = STARTED + at
            on_progress(event)
        files = (_artifact(f"snapshot_{STAMP}.rdb.gz", RDB_GZ_BYTES), _artifact(f"aof_{STAMP}.tar.gz", 31_457_280),
                 _artifact(f"snapshot_{STAMP}.json", 2_401))
        return BackupResult("redis", "", "ok", "RDB 412.3 MB -> 138.9 MB, 1204311 keys", set_id=f"redis/{STAMP}",
                            files=files, duration_seconds=SCRIPT[-1][0])

    def _hold(self) -> None:
        """Stay mid-run until the app exits (it cancels its workers, and waits for this thread)."""
        from textual.worker import get_current_worker

        self.holding.set()
        worker = get_current_worker()
        deadline = time.monotonic() + 60
        while not worker.is_cancelled and time.monotonic() < deadline:
            time.sleep(0.02)


class HeldBackup:
    """Transfers part of a file, then waits for the cancel token, as a real dump would."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.holding = threading.Event()
        self.engine = BackupEngine(preflight=ScriptedRedisBackup().preflight, execute=self.execute,
                                   clock=lambda: self.now)

    def execute(self, settings, request, on_progress=None, cancel=None) -> BackupResult:  # noqa: ANN001
        on_progress(ProgressEvent("bgsave", 10, 10, unit="keys", finished=True))
        self.now += 1.0
        on_progress(ProgressEvent("transfer", 40_000_000, 100_000_000))
        self.now += 5.5
        self.holding.set()
        deadline = time.monotonic() + 30
        while not cancel.cancelled and time.monotonic() < deadline:
            time.sleep(0.02)
        return BackupResult("redis", "", "cancelled", "cancelled by the operator", duration_seconds=6.5)


def _app(settings, **start) -> BackupConsoleApp:  # noqa: ANN001
    return BackupConsoleApp(settings, clock=frozen_clock, prober=fixed_prober(), start_screen="backup",
                            start_kwargs=start)


def _text(pilot, selector: str) -> str:  # noqa: ANN001
    found = pilot.app.screen.query(selector)
    return str(found.first().render()) if found else ""


async def _preflight_shown(pilot) -> None:  # noqa: ANN001
    await wait_until(pilot, lambda: getattr(pilot.app.screen, "checks", None) is not None)
    await pilot.pause(0.3)  # the table recomputes its column widths from the new rows
    await redraw_tables(pilot)


def test_backup_running_80x24(snap_compare, make_settings):
    script = ScriptedRedisBackup(hold_at=TRANSFER_PAUSE)

    async def run_before(pilot) -> None:  # noqa: ANN001
        await _preflight_shown(pilot)
        await pilot.press("b")
        await wait_until(pilot, script.holding.is_set)
        await wait_until(pilot, lambda: "elapsed 10.1 s" in _text(pilot, "#backup-status")
                         and "ETA" in _text(pilot, ".phase-transfer .phase-detail"))
        await pilot.pause(0.3)
        await redraw_tables(pilot)

    app = _app(make_settings(), kind="redis", engine=script.engine)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_backup_finished_80x24(snap_compare, make_settings):
    script = ScriptedRedisBackup()

    async def run_before(pilot) -> None:  # noqa: ANN001
        await _preflight_shown(pilot)
        await pilot.press("b")
        await wait_until(pilot, lambda: pilot.app.screen.query_one("#backup-summary").display)
        await pilot.pause(0.3)

    app = _app(make_settings(), kind="redis", engine=script.engine)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


@pytest.fixture
def preflight_backup_dir():
    shutil.rmtree(PREFLIGHT_BACKUP_DIR, ignore_errors=True)
    yield PREFLIGHT_BACKUP_DIR
    shutil.rmtree(PREFLIGHT_BACKUP_DIR, ignore_errors=True)


def test_backup_preflight_failed_80x24(snap_compare, make_settings, preflight_backup_dir):
    settings = make_settings(**{"backup_dir": str(preflight_backup_dir), "postgres.host": "127.0.0.1",
                                "postgres.port": STOPPED_PORT})
    assert snap_compare(_app(settings, kind="postgres"), terminal_size=(80, 24), run_before=_preflight_shown)


def test_backup_running_80x24_no_color(snap_compare, make_settings, no_color):
    test_backup_running_80x24(snap_compare, make_settings)


def test_backup_preflight_failed_80x24_no_color(snap_compare, make_settings, preflight_backup_dir, no_color):
    test_backup_preflight_failed_80x24(snap_compare, make_settings, preflight_backup_dir)


def test_backup_finished_80x24_no_color(snap_compare, make_settings, no_color):
    test_backup_finished_80x24(snap_compare, make_settings)


def test_backup_cancelled_80x24(snap_compare, make_settings):
    """Cancelled mid-transfer: the phase and the run say CANCELLED, the bar stays where it stopped."""
    held = HeldBackup()

    async def run_before(pilot) -> None:  # noqa: ANN001
        await _preflight_shown(pilot)
        screen = pilot.app.screen
        await pilot.press("b")
        await wait_until(pilot, held.holding.is_set)
        await pilot.press("x")
        await wait_until(pilot, lambda: pilot.app.screen is not screen)
        await pilot.press("y")
        await wait_until(pilot, lambda: screen.job is not None and not screen.job.running
                         and screen.query_one("#backup-summary").display)
        await pilot.pause(0.3)
        await redraw_tables(pilot)

    assert snap_compare(_app(make_settings(), kind="redis", engine=held.engine), terminal_size=(80, 24),
                        run_before=run_before)


def test_backup_cancelled_80x24_no_color(snap_compare, make_settings, no_color):
    test_backup_cancelled_80x24(snap_compare, make_settings)
