"""Drill mode with Pilot: a short real drill (checks, ticks, a note, an override, backup, verify) and interruptions."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal

import pytest

from console.drill import Drill, list_drills
from console.status import Status
from screens.app import BackupConsoleApp
from screens.dashboard import DashboardScreen
from screens.drill import DrillScreen
from screens.drill_transcript import DrillTranscriptScreen
from screens.drills import DrillsScreen
from tests.screens.conftest import FROZEN_NOW, fixed_prober, wait_until
from tests.screens.test_checklist_screen import checks_done, highlight, settings_with_ticket, view_of
from tests.snapshots.test_checklist_snapshots import fixed_evaluator


class StepClock:
    """The app's clock, advancing one second at each reading: deterministic, and time still passes."""

    def __init__(self) -> None:
        self.now = FROZEN_NOW

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now


def drill_app(settings, participants=("alice", "bob"), **kwargs) -> BackupConsoleApp:
    return BackupConsoleApp(settings, clock=StepClock(), prober=fixed_prober(), start_screen="drill",
                            start_kwargs={"services": ["postgres"], "drill_name": "Q4 drill",
                                          "participants": list(participants), **kwargs})


def read(drill: Drill) -> tuple[dict, str]:
    return json.loads(drill.json_path.read_text()), drill.markdown_path.read_text()


async def test_a_short_drill_writes_json_and_markdown_with_every_step(
        pg_cluster, pg_database, make_settings, tmp_path) -> None:
    pytest.importorskip("console.kinds.postgres.backup")
    pytest.importorskip("console.verify")
    settings = settings_with_ticket(make_settings, tmp_path, pg_cluster.overrides(pg_database))
    app = drill_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, DrillScreen)
        await wait_until(pilot, lambda: checks_done(app))
        assert str(screen.query_one("#drill-bar").render()).startswith("DRILL ")
        await highlight(pilot, "wal_archiving")
        await pilot.press("space", "n", *"archiver fine", "enter")
        await pilot.press("w")  # bob drives from here
        await pilot.press("o")  # change_ticket is not ticked: the gate is closed
        await pilot.press(*"practising without a ticket", "enter")
        await wait_until(pilot, lambda: screen.last_backup is not None, timeout=120)
        assert screen.last_backup.ok, screen.last_backup.message
        metadata = json.loads(screen.last_backup.metadata_path.read_text())
        assert metadata["force_reason"].startswith("practising without a ticket (checklist override: change_ticket")
        await pilot.press("v")
        await wait_until(pilot, lambda: screen.verify_step is not None and screen.verify_step.ended is not None,
                         timeout=120)
        await pilot.press("e")
        drill = screen.drill
        assert drill.status == "completed"

    document, markdown = read(drill)
    steps = document["steps"]
    kinds = [step["kind"] for step in steps]
    assert kinds[:7] == ["check"] * 7 and kinds[7:] == ["manual", "override", "backup", "verify"]
    assert steps[7]["name"] == "postgres: WAL archiving is healthy (failed_count 0)"
    assert steps[7]["who"] == "alice" and steps[7]["notes"] == ["archiver fine"]
    assert [step["who"] for step in steps[8:]] == ["bob", "bob", "bob"]
    assert steps[8]["evidence"].startswith("practising without a ticket (checklist override: change_ticket")
    assert steps[9]["outcome"] == "ok" and f"backup postgres {pg_database}" == steps[9]["name"]
    assert steps[10]["outcome"] == "ok" and steps[10]["evidence"].startswith("passed: ")
    ends = [step["ended"] for step in steps]
    assert ends == sorted(ends) and steps[-1]["ended"] > steps[0]["ended"]
    assert all(step["started"] <= step["ended"] for step in steps)
    assert document["started"] < steps[0]["started"] < document["ended"]
    assert document["notes"][0]["text"] == "archiver fine" and document["notes"][0]["who"] == "alice"

    assert markdown.startswith("# Drill: Q4 drill\n\n**OK** · ")
    assert "11 steps, 0 failed, 1 override(s) · participants: alice, bob" in markdown
    assert "| 8 | postgres: WAL archiving is healthy (failed_count 0) | alice |" in markdown
    assert "alice on postgres.wal_archiving: archiver fine" in markdown
    assert "## Overrides" in markdown and "bob: practising without a ticket" in markdown
    assert "Incomplete" not in markdown


async def test_quitting_before_the_end_asks_then_leaves_an_incomplete_transcript(pg_cluster, make_settings) -> None:
    from screens.quit_confirm import QuitModal

    app = drill_app(make_settings(pg_cluster.overrides()))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: checks_done(app))
        screen = app.screen
        drill = screen.drill
        await pilot.press("q")  # asks first, as escape is refused
        await wait_until(pilot, lambda: isinstance(app.screen, QuitModal))
        assert "INCOMPLETE" in " ".join(app.screen.running)
        await pilot.press("n")
        await wait_until(pilot, lambda: app.screen is screen)
        assert screen.recording and drill.ended is None
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitModal))
        await pilot.press("y")
        await wait_until(pilot, lambda: not app.is_running)
    document, markdown = read(drill)
    assert document["status"] == "incomplete"
    assert document["interrupted_by"] == "the operator quit the console during the drill"
    assert len(document["steps"]) == 7
    assert "**INCOMPLETE**" in markdown and "> **Incomplete:** the drill was interrupted" in markdown
    assert list_drills(drill.directory.parent)[0].result == "incomplete"


async def test_terminal_closed_sighup_marks_the_drill_incomplete(make_settings) -> None:
    app = drill_app(make_settings(), participants=(), evaluator=fixed_evaluator)
    async with app.run_test(size=(80, 24)) as pilot:
        drill = app.screen.drill
        await highlight(pilot, "quiet_window")
        await pilot.press("space")
        os.kill(os.getpid(), signal.SIGHUP)  # what the kernel sends when the SSH session drops
        await pilot.pause(0.2)
    document, markdown = read(drill)
    assert document["status"] == "incomplete" and document["interrupted_by"] == "SIGHUP"
    assert document["steps"][-1]["kind"] == "manual"
    assert "interrupted (SIGHUP)" in markdown
    assert signal.getsignal(signal.SIGHUP) is signal.SIG_DFL  # handlers are restored when the screen goes


async def test_drills_screen_lists_past_drills_and_opens_one(make_settings, backup_dir) -> None:
    first = Drill(backup_dir, "tabletop", ["alice"], clock=lambda: FROZEN_NOW.timestamp())
    first.record("redis: healthy", "check", "ok", "PONG")
    first.finish()
    broken = Drill(backup_dir, "cut short", ["bob"], clock=lambda: FROZEN_NOW.timestamp() + 3600)
    broken.interrupt("SIGHUP")
    app = BackupConsoleApp(make_settings(), prober=fixed_prober(), start_screen="drills")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, DrillsScreen)
        await wait_until(pilot, lambda: screen.query_one("DataTable").row_count == 2)
        table = screen.query_one("DataTable")
        assert [table.get_row_at(i)[1:] for i in range(2)] == [["cut short", "0:00", "INCOMPLETE"],
                                                                 ["tabletop", "0:00", "OK"]]
        await pilot.press("down", "enter")
        assert isinstance(app.screen, DrillTranscriptScreen)
        await wait_until(pilot, lambda: "PONG" in (app.screen.query_one("#transcript-text").source or ""))
        await pilot.press("escape")
        assert app.screen is screen


async def test_ticks_without_a_drill_recorder_still_work_in_the_drill_screen(make_settings) -> None:
    app = drill_app(make_settings(), participants=("carol",), evaluator=fixed_evaluator)
    async with app.run_test(size=(80, 24)) as pilot:
        await highlight(pilot, "wal_archiving")
        await pilot.press("escape")  # a stray escape does not cut the drill short
        assert isinstance(app.screen, DrillScreen) and app.screen.recording
        await pilot.press("space", "e", "space")  # after the end, ticks change the list but stamp nothing
        drill = app.screen.drill
        assert view_of(app).run["wal_archiving"].state is Status.PENDING
        await pilot.press("escape")  # once ended, escape goes back
        assert isinstance(app.screen, DashboardScreen)
    document, _ = read(drill)
    assert document["status"] == "completed"
    assert [step["evidence"] for step in document["steps"] if step["kind"] == "manual"] == ["ticked by carol"]


async def test_the_transcript_viewer_shows_every_step_whole_at_80_columns(make_settings, backup_dir) -> None:
    from textual.widgets import Markdown

    drill = Drill(backup_dir, "Q4 drill", ["alice"])
    drill.record("Database is healthy (pg_isready returns 0)", "check", "ok",
                 "postgres at 127.0.0.1:5432 accepts connections", who="alice")
    drill.finish()
    app = BackupConsoleApp(make_settings(), clock=StepClock(), prober=fixed_prober(), start_screen="drills")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, DrillsScreen))
        app.push_screen(DrillTranscriptScreen(drill.id))
        await wait_until(pilot, lambda: isinstance(app.screen, DrillTranscriptScreen) and app.screen.query(Markdown)
                         and "Database is healthy" in (app.screen.query_one(Markdown).source or ""))
        await pilot.pause(0.3)
        shown = "\n".join(str(block.render()) for block in app.screen.query("MarkdownBlock"))
        assert "Database is healthy (pg_isready returns 0)" in shown
        assert "postgres at 127.0.0.1:5432 accepts connections" in shown
