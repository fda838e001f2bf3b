"""ContextModal: the dashboard's context switch (k9s-style `:`): focus on one tag value, kind or instance."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from themes import THEMES_DIR

if TYPE_CHECKING:
    from textual.app import ComposeResult

EVERY = "*"
"""The option that leaves the context: every instance."""


class ContextModal(ModalScreen["str | None"]):
    """Dismisses with the chosen selector ("" for every instance), or None when cancelled."""

    CSS_PATH = THEMES_DIR / "dashboard.tcss"

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel-context")]

    def __init__(self, offered: list[tuple[str, str]], current: str = "") -> None:
        super().__init__()
        self.offered = offered
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="context-box") as box:
            box.border_title = "Context"
            box.border_subtitle = "enter focuses, escape cancels"
            yield Label("Show only the instances of:", markup=False)
            options = [Option("every instance (no context)", id=EVERY)]
            options += [Option(description, id=selector) for selector, description in self.offered]
            yield OptionList(*options, id="context-options", markup=False)

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        ids = [EVERY] + [selector for selector, _ in self.offered]
        options.highlighted = ids.index(self.current) if self.current in ids else 0
        options.focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        selector = event.option.id or EVERY
        self.dismiss("" if selector == EVERY else selector)

    def action_cancel(self) -> None:
        self.dismiss(None)
