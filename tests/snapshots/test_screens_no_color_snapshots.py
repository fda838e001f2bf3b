"""The screens and dialogs no other snapshot shows, at 80x24 with and without colour: help, a
service's details, every line of the Backups panel, the quit dialog, the command palette, the past
drills list, the cancel dialog and the override reason prompt. Without colour, focus and selection show by shape."""

from __future__ import annotations


import pytest

from screens.app import BackupConsoleApp
from screens.backup_cancel import CancelBackupModal
from screens.quit_confirm import QuitModal
from screens.text_prompt import TextPromptModal
from tests.screens.conftest import FROZEN_NOW, fixed_prober, redraw_tables, wait_until
from tests.snapshots.test_dashboard_snapshots import make_backups
from tests.snapshots.test_drills_snapshots import _drills


def _app(make_settings, backup_dir, **kwargs):
    make_backups(backup_dir)
    return BackupConsoleApp(make_settings(), clock=lambda: FROZEN_NOW, prober=fixed_prober(), **kwargs)


async def _settled(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    timer = getattr(pilot.app.screen, "_timer", None)
    timer and timer.stop()
    await pilot.pause()


def _screen_is(name: str):
    async def check(pilot) -> None:
        await wait_until(pilot, lambda: type(pilot.app.screen).__name__ == name)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause(0.2)
        await redraw_tables(pilot)
    return check


async def _help(pilot) -> None:
    await _settled(pilot)
    await pilot.press("question_mark")
    await _screen_is("HelpScreen")(pilot)


async def _service_detail(pilot) -> None:
    await _settled(pilot)
    await pilot.press("enter")
    await _screen_is("ServiceDetailScreen")(pilot)


async def _backups_lines(pilot) -> None:
    await _settled(pilot)
    pilot.app.screen.query_one("#panel-backups").focus()
    await pilot.press("enter")
    await _screen_is("LinesModal")(pilot)


async def _quit_dialog(pilot) -> None:
    await _settled(pilot)
    pilot.app.push_screen(QuitModal(["a postgres backup is running: it is cancelled, its partial files removed"]))
    await _screen_is("QuitModal")(pilot)


async def _palette(pilot) -> None:
    await _settled(pilot)
    await pilot.press("ctrl+p", *"backup")
    await _screen_is("CommandPalette")(pilot)
    await pilot.pause(0.5)
    await pilot.press("down")
    await pilot.pause(0.2)


async def _drills_list(pilot) -> None:
    await _settled(pilot)
    await pilot.press("d")
    await _screen_is("DrillTranscriptScreen")(pilot)
    await pilot.press("escape")
    await _screen_is("DrillsScreen")(pilot)


async def _cancel_dialog(pilot) -> None:
    await _settled(pilot)
    pilot.app.push_screen(CancelBackupModal("the postgres backup of app"))
    await _screen_is("CancelBackupModal")(pilot)


async def _reason_prompt(pilot) -> None:
    await _settled(pilot)
    pilot.app.push_screen(TextPromptModal("Start anyway", "Why start the backup anyway? (recorded)",
                                          ["FAIL Database is healthy (connect + SELECT 1): database 'app': "
                                           "connection refused at 127.0.0.1:5432"]))
    await _screen_is("TextPromptModal")(pilot)
    await pilot.press(*"disk replaced")


CASES = {"help": _help, "service_detail": _service_detail, "backups_lines": _backups_lines,
         "quit_dialog": _quit_dialog, "palette": _palette, "drills_list": _drills_list,
         "cancel_dialog": _cancel_dialog, "reason_prompt": _reason_prompt}


@pytest.mark.parametrize("colour", ["colour", "no_color"])
@pytest.mark.parametrize("case", list(CASES))
def test_screen_80x24(snap_compare, make_settings, backup_dir, monkeypatch, case, colour):
    if colour == "no_color":
        monkeypatch.setenv("NO_COLOR", "1")
    if case == "drills_list":
        _drills(backup_dir)
    assert snap_compare(_app(make_settings, backup_dir), terminal_size=(80, 24), run_before=CASES[case])
