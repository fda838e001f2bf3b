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
        with VerticalScroll(id="help-body"):  # the keys first: what an operator opens help for
            yield DataTable(id="help-keys", cursor_type="row", show_cursor=False)
            yield Markdown(getattr(self.below, "HELP", "") + "\n" + GLOBAL_HELP, id="help-text")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("key", "action", "binding id")
        # The screen's own keys first, then the app's (quit, help), then those of the focused widget
        # (a table's cursor keys): the generic ones are the same everywhere and least worth reading.
        screen_rows, app_rows, widget_rows = [], [], []
        seen = set()
        for active in self.below.active_bindings.values():
            binding = active.binding
            if (binding.action, binding.description) in seen:
                continue
            seen.add((binding.action, binding.description))
            row = (self.app.get_key_display(binding), binding.description or binding.action, binding.id or "")
            if active.node is self.below:
                screen_rows.append(row)
            elif active.node is self.app:
                app_rows.append(row)
            else:
                widget_rows.append(row)
        screen_rows.sort(key=lambda row: not row[2])  # the screen's own (with ids) before Screen's built-ins
        for row in screen_rows + app_rows + widget_rows:
            table.add_row(*row)
        self.query_one("#help-body").focus()

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
