"""Without colour (NO_COLOR), focus, selection, progress and switches still show: by shape."""

from __future__ import annotations

from textual.widgets import DataTable

from screens.app import BackupConsoleApp
from screens.widgets.option_box import OptionBox
from screens.widgets.text_bar import DONE, REST, TextBar
from tests.screens.conftest import fixed_prober, frozen_clock, wait_until
from tests.snapshots.test_backup_snapshots import ScriptedRedisBackup


async def test_the_cursor_row_and_the_active_tab_are_reversed(make_settings, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = BackupConsoleApp(make_settings(), clock=frozen_clock, prober=fixed_prober(), start_screen="retention")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.screen.query(DataTable))
        table = app.screen.query_one("#retention-kinds", DataTable)
        cursor = table.get_component_rich_style("datatable--cursor")
        assert app.has_class("-no-color") and cursor.reverse and cursor.bold


async def test_progress_and_options_differ_in_shape(make_settings, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    script = ScriptedRedisBackup()
    app = BackupConsoleApp(make_settings(), clock=frozen_clock, prober=fixed_prober(), start_screen="backup",
                           start_kwargs={"kind": "redis", "engine": script.engine})
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.screen.query(OptionBox))
        box = app.screen.query_one(OptionBox)
        assert "[ ]" in str(box.render())
        box.value = True
        await pilot.pause()
        assert "[X]" in str(box.render())
        bar = TextBar()
        await app.screen.mount(bar)
        bar.update(total=10, progress=4)
        await pilot.pause()
        drawn = str(bar.render())
        assert DONE in drawn and REST in drawn and drawn.index(REST) > drawn.index(DONE)
