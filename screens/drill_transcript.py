"""DrillTranscriptScreen: one past drill's Markdown transcript (read in a worker)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on, work
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Markdown

from console.drill import read_drill, render_markdown
from screens import keys
from screens.widgets.key_line import KeyLine
from screens.widgets.title_line import TitleLine
from themes import THEMES_DIR

if TYPE_CHECKING:
    from textual.app import ComposeResult


class TranscriptRead(Message):
    def __init__(self, markdown: str) -> None:
        super().__init__()
        self.markdown = markdown


class DrillTranscriptScreen(Screen[None]):
    CSS_PATH = THEMES_DIR / "drill.tcss"

    HELP = """\
## Drill transcript
The summary line, every step with its times, outcome and evidence, the notes and what failed:
the same text as BACKUP_DIR/drills/<id>.md and `backup-console drill show ID --markdown`.
"""

    BINDINGS = [keys.bind("back", "back", id="back")]

    def __init__(self, drill_id: str) -> None:
        super().__init__()
        self.drill_id = drill_id

    def compose(self) -> ComposeResult:
        yield TitleLine()
        # A plain Markdown in a scroll view: it is there from the first frame, so the transcript
        # read by the worker never arrives before the widget that shows it.
        with VerticalScroll(id="transcript"):
            yield Markdown("", id="transcript-text")
        yield KeyLine()

    def on_mount(self) -> None:
        self.title = f"Drill {self.drill_id}"
        self._read()

    @work(thread=True, exclusive=True, exit_on_error=False, group="transcript")
    def _read(self) -> None:
        document = read_drill(self.app.settings.backup_dir, self.drill_id)  # type: ignore[attr-defined]
        self.post_message(TranscriptRead(render_markdown(document, steps_as_list=True)))

    @on(TranscriptRead)
    async def _show(self, message: TranscriptRead) -> None:
        await self.query_one("#transcript-text", Markdown).update(message.markdown)
        self.query_one("#transcript", VerticalScroll).focus()

    def action_back(self) -> None:
        self.app.pop_screen()
