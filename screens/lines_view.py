"""LinesModal: lines a panel cuts at its width or height, shown whole and scrollable."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class LinesModal(ModalScreen[None]):
    """Every line of a panel, wrapped rather than cut; escape or enter closes it."""

    BINDINGS = [
        Binding("escape,enter,q", "close", "Close", id="close-lines", tooltip="Back to the dashboard"),
    ]

    def __init__(self, title: str, lines: list[str]) -> None:
        super().__init__()
        self.title_text = title
        self.lines = lines

    def compose(self) -> ComposeResult:
        body = VerticalScroll(id="lines-body")
        body.border_title = self.title_text
        body.border_subtitle = "escape closes"
        with body:
            yield Static("\n".join(self.lines) or "(nothing)", id="lines-text", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
