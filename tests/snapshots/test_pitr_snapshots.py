"""PITR screen layout at 80x24 and 120x40: a base backup, a restore point and an archive whose
segments carry fixed archive times (pg_waldump finds no commit in them), with time frozen."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from screens.app import BackupConsoleApp
from tests.screens.conftest import fixed_prober

FROZEN = dt.datetime(2026, 12, 7, 1, 43, 0, tzinfo=dt.timezone.utc)
pytestmark = pytest.mark.usefixtures("utc")


def frozen() -> dt.datetime:
    return FROZEN


def _tree(root: Path) -> tuple[Path, Path]:
    backups, archive = root / "backups", root / "archive"
    base = backups / "postgres" / "base" / "20261201_020000"
    base.mkdir(parents=True)
    archive.mkdir()
    (base / "backup.json").write_text(json.dumps({
        "set_id": "postgres/base/20261201_020000", "timeline": 1, "start_lsn": "0/2000028", "stop_lsn": "0/2000100",
        "start_wal_file": "000000010000000000000002", "stop_time": "2026-12-01T02:00:05+00:00",
        "wal_segment_size": 16777216, "artifacts": []}))
    (backups / "postgres" / "base" / "restore-points.jsonl").write_text(json.dumps({
        "name": "before-migration", "lsn": "0/4000090", "time": "2026-12-04T12:00:00+00:00", "timeline": 1,
        "wal_file": "000000010000000000000004"}) + "\n")
    last = dt.datetime(2026, 12, 7, 1, 40, tzinfo=dt.timezone.utc).timestamp()
    for number in range(2, 7):
        path = archive / f"0000000100000000000000{number:02X}"
        path.write_bytes(b"")
        os.utime(path, (last - (6 - number) * 3600, last - (6 - number) * 3600))
    return backups, archive


async def _settle(pilot) -> None:
    for field in pilot.app.screen.query("Input"):
        field.cursor_blink = False  # a blinking cursor is drawn or not depending on when the frame is taken
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause(0.3)


def _app(make_settings, tmp_path):
    backups, archive = _tree(tmp_path)
    settings = make_settings(**{"backup_dir": str(backups), "postgres.wal_archive_dir": str(archive),
                                "postgres.bin_dir": str(tmp_path / "no-bin")})
    return BackupConsoleApp(settings, clock=frozen, prober=fixed_prober(), start_screen="pitr")


def test_pitr_80x24(snap_compare, make_settings, tmp_path):
    assert snap_compare(_app(make_settings, tmp_path), terminal_size=(80, 24), run_before=_settle)


def test_pitr_120x40(snap_compare, make_settings, tmp_path):
    assert snap_compare(_app(make_settings, tmp_path), terminal_size=(120, 40), run_before=_settle)


def test_pitr_80x24_no_color(snap_compare, make_settings, tmp_path, no_color):
    test_pitr_80x24(snap_compare, make_settings, tmp_path)
