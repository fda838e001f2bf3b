"""QuitModal: "quit while something runs?" answered with y (stop it and quit) or n (stay).

A backup runs in a thread of this process, so it cannot outlive the console: quitting cancels it
(its partial files are removed and the run is recorded as cancelled). A drill that is not ended
is written as INCOMPLETE with the reason. The modal says exactly that rather than offering to
leave anything running.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

if TYPE_CHECKING:
    from textual.app import ComposeResult


class QuitModal(ModalScreen[bool]):
    """Dismisses True to stop what runs and quit, False to stay."""

    BINDINGS = [
        Binding("y", "answer(True)", "Stop it and quit", id="confirm-quit"),
        Binding("n,escape,q", "answer(False)", "Stay", id="stay"),
    ]

    def __init__(self, running: list[str]) -> None:
        super().__init__()
        self.running = running

    def compose(self) -> ComposeResult:
        with Vertical(id="quit-box") as box:
            box.border_title = "Quit?"
            for line in self.running:
                yield Label(f"❱ {line}", markup=False)
            yield Label("It cannot keep running without the console.", markup=False)
            with Horizontal(id="quit-buttons"):
                yield Button("y: stop it and quit", id="quit-yes", variant="error")
                yield Button("n: stay", id="quit-no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#quit-no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "quit-yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
