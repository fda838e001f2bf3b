"""DrillTranscriptScreen: one past drill's Markdown transcript (read in a worker)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on, work

from screens import keys
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, MarkdownViewer

if TYPE_CHECKING:
    from textual.app import ComposeResult


class TranscriptRead(Message):
    def __init__(self, markdown: str) -> None:
        super().__init__()
        self.markdown = markdown


class DrillTranscriptScreen(Screen[None]):
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
        yield Header(show_clock=False, icon="")
        yield MarkdownViewer("", id="transcript", show_table_of_contents=False)
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"Drill {self.drill_id}"
        self._read()

    @work(thread=True, exclusive=True, exit_on_error=False, group="transcript")
    def _read(self) -> None:
        from console.drill import read_drill, render_markdown

        self.post_message(TranscriptRead(render_markdown(read_drill(self.app.settings.backup_dir,  # type: ignore[attr-defined]
                                                                    self.drill_id))))

    @on(TranscriptRead)
    async def _show(self, message: TranscriptRead) -> None:
        await self.query_one(MarkdownViewer).document.update(message.markdown)
        self.query_one(MarkdownViewer).focus()

    def action_back(self) -> None:
        self.app.pop_screen()
