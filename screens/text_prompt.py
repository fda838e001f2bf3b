"""TextPromptModal: asks for one line of text (a note, an override reason); enter submits, escape cancels."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from themes import THEMES_DIR

if TYPE_CHECKING:
    from textual.app import ComposeResult


class TextPromptModal(ModalScreen["str | None"]):
    """Dismisses with the typed text (stripped), or None when cancelled; ``required`` refuses empty text."""

    CSS_PATH = THEMES_DIR / "prompt.tcss"

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel-prompt")]

    def __init__(self, title: str, prompt: str, context: list[str] | None = None, required: bool = True) -> None:
        super().__init__(classes="text-prompt")
        self.prompt_title = title
        self.prompt = prompt
        self.context_lines = context or []
        self.required = required

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box") as box:
            box.border_title = self.prompt_title
            for line in self.context_lines:
                yield Label(line, classes="prompt-context", markup=False)
            yield Label(self.prompt, id="prompt-label", markup=False)
            yield Input(id="prompt-input")
            yield Label("", id="prompt-error", markup=False)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if self.required and not text:
            self.query_one("#prompt-error", Label).update("type something first (escape cancels)")
            return
        self.dismiss(text or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
