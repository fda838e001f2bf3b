"""One key vocabulary (screens/keys.py): each verb one key on every screen; the footer shows each
screen's main keys; help lists the screen's keys first; the newest drill is one key away."""

from __future__ import annotations

import importlib

import pytest

from screens import keys
from screens.app import SCREEN_FACTORIES, BackupConsoleApp
from tests.screens.conftest import fixed_prober, frozen_clock, wait_until

NAVIGATION = {"right,l", "left,h", "down,j", "up,k", "tab", "shift+tab", *(str(n) for n in range(1, 10))}
"""Moving around is not a verb: arrows (and vi keys), tab, a list's number."""


def _screen_classes():
    for name, spec in SCREEN_FACTORIES.items():
        module_name, _, class_name = spec.partition(":")
        yield name, getattr(importlib.import_module(module_name), class_name)


@pytest.mark.parametrize(("name", "screen_class"), list(_screen_classes()))
def test_every_screen_binds_only_the_vocabulary(name, screen_class):
    verb_keys = {part for verb in keys.VERBS.values() for part in verb.key.split(",")}
    for binding in screen_class.BINDINGS:
        if binding.key in NAVIGATION:
            continue
        assert set(binding.key.split(",")) <= verb_keys, (name, binding.key, binding.action)


def test_the_same_verb_has_the_same_key_on_every_screen():
    bound = {(name, binding.id): binding.key for name, cls in _screen_classes() for binding in cls.BINDINGS}
    assert bound[("backup", "start-backup")] == bound[("checklist", "start-backup")] == bound[("dashboard", "open-backup")] == "b"
    assert bound[("backup", "run-preflight")] == bound[("checklist", "run-checks")] == bound[("dashboard", "refresh")] == "r"
    assert bound[("backup", "cancel-backup")] == bound[("troubleshoot", "terminate-backend")] == "x"
    assert bound[("dashboard", "open-checklist")] == "c" and ("backup", "c") not in {(n, k) for (n, _), k in bound.items()}
    assert bound[("dashboard", "toggle-pause")] == "p"
    assert "p" not in {key for (screen, _), key in bound.items() if screen == "backup"}


async def test_the_dashboard_footer_shows_its_screens_and_help_lists_the_screens_keys_first(make_settings):
    from textual.widgets import DataTable

    from screens.help import HelpScreen

    app = BackupConsoleApp(make_settings(), clock=frozen_clock, prober=fixed_prober())
    async with app.run_test(size=(80, 24)) as pilot:
        shown = {binding.key for _, binding, enabled, _ in app.screen.active_bindings.values() if binding.show}
        assert {"b", "c", "v", "t", "d", "r", "q"} <= shown
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one(DataTable)
        first = [table.get_row_at(index)[2] for index in range(6)]
        assert first == ["open-backup", "open-checklist", "open-reports", "open-retention", "open-drill", "refresh"]


async def test_the_newest_drill_transcript_is_one_key_from_the_dashboard(make_settings, backup_dir):
    from console.drill import Drill
    from screens.drill_transcript import DrillTranscriptScreen
    from screens.drills import DrillsScreen

    settings = make_settings()
    older = Drill(backup_dir, "older drill", ["alice"])
    older.finish()
    newest = Drill(backup_dir, "newest drill", ["bob"])
    newest.finish()
    app = BackupConsoleApp(settings, clock=frozen_clock, prober=fixed_prober())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, DrillTranscriptScreen))
        assert app.screen.drill_id == newest.id
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, DrillsScreen))  # every drill from there


async def test_the_key_line_shows_the_screens_keys_greys_disabled_ones_and_takes_clicks(make_settings):
    """screens/widgets/key_line.py draws what Textual's compact Footer drew: each shown binding once,
    "key description", one space apart; a disabled one dimmed; a click on a key presses it."""
    from rich.text import Text

    from screens.checklist import ChecklistScreen
    from screens.widgets.key_line import KeyLine

    app = BackupConsoleApp(make_settings(), clock=frozen_clock, prober=fixed_prober())
    async with app.run_test(size=(80, 24)) as pilot:
        line = app.screen.query_one(KeyLine)
        drawn = line.render()
        assert isinstance(drawn, Text) and drawn.plain.startswith("b Backup c Checks v Reports t Retain ")
        column = drawn.plain.index("t Retain")
        await pilot.click(KeyLine, offset=(column + 2, 0))
        await wait_until(pilot, lambda: app.screen.__class__.__name__ == "RetentionScreen")
        assert app.screen.query_one(KeyLine).render().plain.startswith("esc Back r Replan")
    app = BackupConsoleApp(make_settings(**{"checklists.dir": str(make_settings().backup_dir)}),  # no lists
                           clock=frozen_clock, prober=fixed_prober(), start_screen="checklist")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChecklistScreen))
        screen = app.screen
        screen.check_action = lambda action, parameters: None if action == "run_checks" else True
        screen.refresh_bindings()
        await pilot.pause()
        drawn = screen.query_one(KeyLine).render()
        dimmed = [drawn.plain[span.start:span.end] for span in drawn.spans if "dim" in str(span.style)]
        assert dimmed and all("Re-check" in text or text.strip() == "r" for text in dimmed), dimmed
