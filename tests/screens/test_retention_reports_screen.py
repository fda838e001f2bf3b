"""The Retention screen's verification-reports category with Pilot: its row, its planned removals,
and deletion only after the typed confirmation."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input

from screens.app import BackupConsoleApp
from screens.retention import RetentionScreen
from screens.text_prompt import TextPromptModal
from tests.report_fixtures import KEPT, REMOVED, existing, history
from tests.retention_fixtures import make_scenario, now
from tests.screens.conftest import fixed_prober, wait_until

pytestmark = pytest.mark.usefixtures("utc")


def loaded(app) -> bool:
    return isinstance(app.screen, RetentionScreen) and app.screen.overview is not None and not app.screen._busy


def summary(app) -> str:
    return str(app.screen.query_one("#retention-summary").render())


async def test_reports_row_and_removal_after_typed_total(backup_dir, make_settings) -> None:
    make_scenario(backup_dir)  # 10 sets to remove, as in test_retention_screen
    settings = make_settings()
    names = history(settings, now())
    app = BackupConsoleApp(settings, clock=now, prober=fixed_prober(), start_screen="retention")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        row = app.screen.query_one("#retention-kinds", DataTable).get_row("reports")
        assert row[:3] == ["reports", "10", "remove 5"] and row[4] == "-"
        assert row[6] == "2027-02-13 03:00"  # young_10d passes 90 d in 80 days
        actions = app.screen.query_one("#retention-actions", DataTable)
        rows = [actions.get_row_at(i) for i in range(actions.row_count)]
        report_rows = [row for row in rows if row[1].startswith("reports/")]
        assert len(report_rows) == 5 and all(row[0] == "REMOVE" for row in report_rows)
        assert "PLAN: remove 10 set(s), 5 report(s)" in summary(app)

        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, TextPromptModal))
        app.screen.query_one(Input).focus()
        await pilot.press("1", "0", "enter")  # the sets alone: not the whole deletion
        await wait_until(pilot, lambda: isinstance(app.screen, RetentionScreen))
        await pilot.pause(0.2)
        assert existing(settings, names) == set(names)

        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, TextPromptModal))
        app.screen.query_one(Input).focus()
        await pilot.press("1", "5", "enter")
        await wait_until(pilot, lambda: existing(settings, names) == KEPT and loaded(app))
        await wait_until(pilot, lambda: "CLEAN" in summary(app))
        assert app.screen.query_one("#retention-kinds", DataTable).get_row("reports")[:3] == ["reports", "5", "keep all"]
    assert not REMOVED & existing(settings, names)
