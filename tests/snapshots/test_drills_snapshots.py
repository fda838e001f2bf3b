"""The past drills list and a transcript at 80x24, with and without colour."""

from __future__ import annotations


from console.drill import Drill
from screens.app import BackupConsoleApp
from tests.screens.conftest import FROZEN_NOW, fixed_prober, wait_until


class Clock:
    """Drill timestamps from the frozen time, one second per reading."""

    def __init__(self) -> None:
        self.now = FROZEN_NOW.timestamp()

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def _drills(backup_dir):
    drill = Drill(backup_dir, "Q4 restore drill", ["alice", "bob"], services=["postgres"], clock=Clock())
    drill.record("Database is healthy (pg_isready returns 0)", "check", "ok",
                 "postgres at 127.0.0.1:5432 accepts connections", who="alice")
    drill.record("Backup postgres/app", "backup", "ok", "postgres/app/20261125_030004 in 12.0 s, 138.9 MB", who="bob")
    drill.record("Verify postgres/app/20261125_030004", "verify", "warn", "Age WARNING: metadata written late",
                 who="bob")
    drill.finish()


def _app(make_settings):
    return BackupConsoleApp(make_settings(), clock=lambda: FROZEN_NOW, prober=fixed_prober())


async def _open_newest(pilot) -> None:  # noqa: ANN001
    from screens.drill_transcript import DrillTranscriptScreen

    await pilot.press("d")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, DrillTranscriptScreen)
                     and pilot.app.screen.query("#transcript-text")
                     and "Q4 restore drill" in (pilot.app.screen.query_one("#transcript-text").source or ""))
    await pilot.pause(0.3)


def test_drill_transcript_80x24(snap_compare, make_settings, backup_dir):
    _drills(backup_dir)
    assert snap_compare(_app(make_settings), terminal_size=(80, 24), run_before=_open_newest)


def test_drill_transcript_80x24_no_color(snap_compare, make_settings, backup_dir, no_color):
    _drills(backup_dir)
    assert snap_compare(_app(make_settings), terminal_size=(80, 24), run_before=_open_newest)
