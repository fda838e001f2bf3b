"""Retention screen layout at 80x24 and 120x40, with time and backup sets frozen."""

from __future__ import annotations


import pytest

from screens.app import BackupConsoleApp
from tests.retention_fixtures import make_scenario, now
from tests.screens.conftest import fixed_prober, redraw_tables


pytestmark = pytest.mark.usefixtures("utc")


async def _settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause(0.3)  # let the tables recompute column widths from their new rows
    await redraw_tables(pilot)


def _app(make_settings, backup_dir):
    make_scenario(backup_dir)
    return BackupConsoleApp(make_settings(), clock=now, prober=fixed_prober(), start_screen="retention")


def test_retention_80x24(snap_compare, make_settings, backup_dir):
    assert snap_compare(_app(make_settings, backup_dir), terminal_size=(80, 24), run_before=_settle)


def test_retention_120x40(snap_compare, make_settings, backup_dir):
    assert snap_compare(_app(make_settings, backup_dir), terminal_size=(120, 40), run_before=_settle)


def test_retention_80x24_no_color(snap_compare, make_settings, backup_dir, no_color):
    test_retention_80x24(snap_compare, make_settings, backup_dir)
