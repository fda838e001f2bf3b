"""Dashboard layout at 80x24 and 120x40, with time, probe results and backups frozen."""

from __future__ import annotations


from screens.app import BackupConsoleApp
from screens.messages import BackupsScanned
from tests.screens.conftest import FROZEN_NOW, fixed_prober
from tests.screens.test_dashboard_targets import crowded_summary


def make_backups(backup_dir):
    files = {
        "postgres/backup_app_20261125_020000.dump": "2026-11-25 02:00:00",
        "postgres/backup_app_20261125_020000.json": "2026-11-25 02:00:05",
        "redis/snapshot_20261124_020000.rdb.gz": "2026-11-24 02:00:00",
        "rabbitmq/definitions_20261125_020100.json.gz": "2026-11-25 02:01:00",
    }
    for relative in files:
        path = backup_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


async def _settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    pilot.app.screen._timer and pilot.app.screen._timer.stop()


def _app(make_settings, backup_dir):
    make_backups(backup_dir)
    return BackupConsoleApp(make_settings(), clock=lambda: FROZEN_NOW, prober=fixed_prober())


def test_dashboard_80x24(snap_compare, make_settings, backup_dir):
    assert snap_compare(_app(make_settings, backup_dir), terminal_size=(80, 24), run_before=_settle)


def test_dashboard_120x40(snap_compare, make_settings, backup_dir):
    assert snap_compare(_app(make_settings, backup_dir), terminal_size=(120, 40), run_before=_settle)


def test_dashboard_80x24_no_color(snap_compare, make_settings, backup_dir, no_color):
    test_dashboard_80x24(snap_compare, make_settings, backup_dir)


async def _crowded(pilot) -> None:
    await _settle(pilot)
    pilot.app.screen.post_message(BackupsScanned(crowded_summary(FROZEN_NOW.timestamp())))
    await pilot.pause()
    await pilot.pause()


def test_dashboard_crowded_backups_80x24(snap_compare, make_settings, backup_dir):
    """More targets and alerts than the Backups panel holds: its border whole, alerts and failures kept."""
    assert snap_compare(_app(make_settings, backup_dir), terminal_size=(80, 24), run_before=_crowded)


def test_dashboard_crowded_backups_80x24_no_color(snap_compare, make_settings, backup_dir, no_color):
    test_dashboard_crowded_backups_80x24(snap_compare, make_settings, backup_dir)
