"""The dashboard with several instances per kind, with time, probe results and backups frozen:
groups of panels (wide), the compact table (80x24, twenty instances), a filter, the context
switch, and the Backup screen's instance picker."""

from __future__ import annotations


import pytest

from screens.app import BackupConsoleApp
from tests.screens.conftest import (FLEET_STATES, TWENTY_STATES, fixed_prober, fleet_settings, frozen_clock,
                                    redraw_tables, twenty_instances_yaml, wait_until)

FLEET_BACKUPS = ("postgres@analytics/backup_shop_20261125_020000.dump",
                 "postgres@main/backup_shop_20261124_020000.dump",
                 "redis@queue/snapshot_20261125_010000.rdb.gz",
                 "rabbitmq/definitions_20261125_020100.json.gz")


# NO_COLOR is read when the app is built: tests ask for ``no_color`` before the app fixture.


@pytest.fixture
def fleet_app(tmp_path, backup_dir):
    for relative in FLEET_BACKUPS:
        path = backup_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    return BackupConsoleApp(fleet_settings(tmp_path, backup_dir), clock=frozen_clock, prober=fixed_prober(FLEET_STATES))


@pytest.fixture
def twenty_app(tmp_path, backup_dir):
    settings = fleet_settings(tmp_path, backup_dir, twenty_instances_yaml(backup_dir))
    return BackupConsoleApp(settings, clock=frozen_clock, prober=fixed_prober(TWENTY_STATES))


async def _settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    pilot.app.screen._timer and pilot.app.screen._timer.stop()
    await redraw_tables(pilot)


def _pressing(*keys: str):
    async def run_before(pilot) -> None:
        await _settle(pilot)
        await pilot.press(*keys)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause(0.2)
        await redraw_tables(pilot)

    return run_before


def test_instances_grouped_120x40(snap_compare, fleet_app):
    assert snap_compare(fleet_app, terminal_size=(120, 40), run_before=_settle)


def test_instances_table_80x24(snap_compare, fleet_app):
    assert snap_compare(fleet_app, terminal_size=(80, 24), run_before=_settle)


def test_twenty_instances_table_80x24(snap_compare, twenty_app):
    assert snap_compare(twenty_app, terminal_size=(80, 24), run_before=_pressing("down", "down", "down"))


def test_twenty_instances_table_80x24_no_color(snap_compare, no_color, twenty_app):
    assert snap_compare(twenty_app, terminal_size=(80, 24), run_before=_pressing("down", "down", "down"))


def test_filter_typed_80x24(snap_compare, twenty_app):
    assert snap_compare(twenty_app, terminal_size=(80, 24), run_before=_pressing("slash", *"pg1"))


def test_context_picker_80x24(snap_compare, fleet_app):
    assert snap_compare(fleet_app, terminal_size=(80, 24), run_before=_pressing("colon", "down"))


def test_context_chosen_80x24_no_color(snap_compare, no_color, fleet_app):
    assert snap_compare(fleet_app, terminal_size=(80, 24), run_before=_pressing("colon", "down", "enter"))


def test_context_picker_80x24_no_color(snap_compare, no_color, fleet_app):
    assert snap_compare(fleet_app, terminal_size=(80, 24), run_before=_pressing("colon", "down"))


def test_backup_instance_picker_80x24(snap_compare, tmp_path, backup_dir, press=()):
    from tests.screens.test_backup_screen_instances import TWO_CLUSTERS, RecordingEngine

    settings = fleet_settings(tmp_path, backup_dir, TWO_CLUSTERS.format(backup_dir=backup_dir))
    app = BackupConsoleApp(settings, clock=frozen_clock, prober=fixed_prober(), start_screen="backup",
                           start_kwargs={"kind": "postgres", "instance": "analytics",
                                         "engine": RecordingEngine().engine})

    async def run_before(pilot) -> None:
        await wait_until(pilot, lambda: getattr(pilot.app.screen, "checks", None) is not None)
        await pilot.pause(0.3)
        await redraw_tables(pilot)
        if press:
            await pilot.press(*press)
            await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_backup_instance_picker_80x24_no_color(snap_compare, no_color, tmp_path, backup_dir):
    test_backup_instance_picker_80x24(snap_compare, tmp_path, backup_dir)


def test_backup_instance_picker_open_80x24_no_color(snap_compare, no_color, tmp_path, backup_dir):
    """The instance list open over the pre-flight table: bordered, the highlighted instance reversed."""
    test_backup_instance_picker_80x24(snap_compare, tmp_path, backup_dir, press=("tab", "enter", "down"))
