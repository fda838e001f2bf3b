"""HelpScreen: the help text of the screen below and every key that works there."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Markdown

GLOBAL_HELP = """\
Keyboard only: tab / shift+tab move between widgets, ctrl+p opens the command palette
(every action by name), `?` or F1 shows this help, `q` quits. With `NO_COLOR` set, every state
is also spelled out as a word.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss", "Close", id="close-help")]

    def __init__(self, below: Screen[object]) -> None:
        super().__init__()
        self.below = below

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Markdown(getattr(self.below, "HELP", "") + "\n" + GLOBAL_HELP, id="help-text")
            yield DataTable(id="help-keys", cursor_type="row", show_cursor=False)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("key", "action", "binding id")
        seen = set()
        for key, active in self.below.active_bindings.items():
            binding = active.binding
            if binding.action in seen and not binding.show:
                continue
            seen.add(binding.action)
            table.add_row(self.app.get_key_display(binding), binding.description or binding.action, binding.id or "")
        self.query_one("#help-body").focus()

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
