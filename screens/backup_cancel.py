"""CancelBackupModal: "cancel this backup?" answered with y / n (or enter on a button)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from themes import THEMES_DIR

if TYPE_CHECKING:
    from textual.app import ComposeResult


class CancelBackupModal(ModalScreen[bool]):
    """Dismisses True to cancel the backup, False to let it run."""

    CSS_PATH = THEMES_DIR / "backup.tcss"

    BINDINGS = [
        Binding("y", "answer(True)", "Cancel the backup", id="confirm-cancel"),
        Binding("n,escape", "answer(False)", "Keep running", id="keep-running"),
    ]

    def __init__(self, what: str) -> None:
        super().__init__(classes="backup-cancel")
        self.what = what

    def compose(self) -> ComposeResult:
        with Vertical(id="cancel-box") as box:
            box.border_title = "Cancel the backup?"
            yield Label(f"Stop {self.what}? Its partial files are removed and the run is recorded as cancelled.",
                        markup=False)
            with Horizontal(id="cancel-buttons"):
                yield Button("y: cancel it", id="cancel-yes", variant="error")
                yield Button("n: keep running", id="cancel-no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#cancel-no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "cancel-yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
