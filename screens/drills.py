"""DrillsScreen: past drills (date, name, duration, result); enter opens one's transcript."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from textual import on, work
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Static

from console.drill import DrillSummary, duration_text, list_drills
from screens import keys
from screens.widgets.key_line import KeyLine
from screens.widgets.title_line import TitleLine
from themes import THEMES_DIR

if TYPE_CHECKING:
    from textual.app import ComposeResult


class DrillsListed(Message):
    def __init__(self, drills: list[DrillSummary]) -> None:
        super().__init__()
        self.drills = drills


class DrillsScreen(Screen[None]):
    CSS_PATH = THEMES_DIR / "drill.tcss"

    HELP = """\
## Past drills
Every drill under BACKUP_DIR/drills, newest first: when it started, its name, how long it took
and its result (OK, FAILED when a step failed, INCOMPLETE when it was not ended). Enter opens
the transcript; `r` reads the directory again.
"""

    BINDINGS = [
        keys.bind("open", "open_drill", id="open-drill", tooltip="Show the drill's transcript"),
        keys.bind("refresh", "reload", "Reload", id="reload-drills", tooltip="Read the drills directory again"),
        keys.bind("back", "back", id="back", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.drills: list[DrillSummary] = []

    def compose(self) -> ComposeResult:
        yield TitleLine()
        yield DataTable(id="drills-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="drills-empty", markup=False)
        yield KeyLine()

    def on_mount(self) -> None:
        self.title = "Past drills"
        table = self.query_one(DataTable)
        table.add_columns("date", "name", "duration", "result")
        table.focus()
        self.action_reload()

    def action_reload(self) -> None:
        self._list_drills()

    @work(thread=True, exclusive=True, exit_on_error=False, group="drills")
    def _list_drills(self) -> None:
        self.post_message(DrillsListed(list_drills(self.app.settings.backup_dir)))  # type: ignore[attr-defined]

    @on(DrillsListed)
    def _show(self, message: DrillsListed) -> None:
        self.drills = message.drills
        table = self.query_one(DataTable)
        table.clear()
        for summary in self.drills:
            table.add_row(dt.datetime.fromtimestamp(summary.started).strftime("%Y-%m-%d %H:%M"), summary.name,
                          duration_text(summary.duration_seconds), summary.result.upper(), key=summary.id)
        empty = self.query_one("#drills-empty", Static)
        empty.update("" if self.drills else "no drills yet: start one with `backup-console drill` or the palette")
        empty.display = not self.drills

    def action_open_drill(self) -> None:
        table = self.query_one(DataTable)
        if not self.drills or table.cursor_row is None:
            return
        from screens.drill_transcript import DrillTranscriptScreen

        self.app.push_screen(DrillTranscriptScreen(self.drills[table.cursor_row].id))

    @on(DataTable.RowSelected)
    def _row_selected(self) -> None:
        self.action_open_drill()

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
