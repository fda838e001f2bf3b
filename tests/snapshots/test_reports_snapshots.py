"""Report browser layout at 80x24 and 120x40: the list and one report, from fixed report files."""

from __future__ import annotations


from console.verify import reports
from screens.app import BackupConsoleApp
from tests.console.test_reports import sample_report
from tests.screens.conftest import FROZEN_NOW, fixed_prober, redraw_tables


def _app(make_settings):
    settings = make_settings()
    reports.write_report(settings, sample_report("backup_verification_20261124_020000", "2026-11-24T02:00:00+00:00",
                                                 fail=False))
    reports.write_report(settings, sample_report())
    return BackupConsoleApp(settings, clock=lambda: FROZEN_NOW, prober=fixed_prober(), start_screen="reports")


async def _settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()
    await redraw_tables(pilot)


async def _open_report(pilot) -> None:
    await _settle(pilot)
    await pilot.press("enter")
    await _settle(pilot)


def test_reports_list_80x24(snap_compare, make_settings):
    assert snap_compare(_app(make_settings), terminal_size=(80, 24), run_before=_settle)


def test_report_view_80x24(snap_compare, make_settings):
    assert snap_compare(_app(make_settings), terminal_size=(80, 24), run_before=_open_report)


def test_report_view_120x40(snap_compare, make_settings):
    assert snap_compare(_app(make_settings), terminal_size=(120, 40), run_before=_open_report)


def test_reports_list_80x24_no_color(snap_compare, make_settings, no_color):
    test_reports_list_80x24(snap_compare, make_settings)


def test_report_view_80x24_no_color(snap_compare, make_settings, no_color):
    test_report_view_80x24(snap_compare, make_settings)


async def _open_set(pilot) -> None:
    await _open_report(pilot)
    await pilot.press("enter")
    await _settle(pilot)


def test_set_detail_80x24(snap_compare, make_settings):
    assert snap_compare(_app(make_settings), terminal_size=(80, 24), run_before=_open_set)


def test_set_detail_80x24_no_color(snap_compare, make_settings, no_color):
    test_set_detail_80x24(snap_compare, make_settings)
