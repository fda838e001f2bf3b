"""ChecklistItemModal: one checklist item in full: state, evidence, why it matters, what to do, notes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

from themes import THEMES_DIR

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from console.checklists import ItemStatus


class ChecklistItemModal(ModalScreen[None]):
    CSS_PATH = THEMES_DIR / "checklist.tcss"

    BINDINGS = [Binding("escape,enter,q", "close", "Close", id="close-item")]

    def __init__(self, status: ItemStatus) -> None:
        super().__init__()
        self.status = status

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="item-detail"):
            yield Markdown(item_markdown(self.status))

    def on_mount(self) -> None:
        self.query_one("#item-detail").focus()

    def action_close(self) -> None:
        self.dismiss(None)


def item_markdown(status: ItemStatus) -> str:
    item = status.item
    how = "a person ticks it (space)" if item.manual else f"automated check `{item.check}`"
    lines = [
        f"## {status.state.mark} {item.title}",
        "",
        f"**{'Required' if item.required else 'Optional'}**, {how}. Defined at `{item.source}`.",
        "",
        f"**Evidence:** {status.evidence or '(none yet)'}",
        "",
        "### Why it matters",
        "",
        item.why or "(not documented)",
        "",
        "### What to do when it fails",
        "",
        item.on_fail or "(not documented)",
    ]
    if status.notes:
        lines += ["", "### Notes", "", *[f"- {note}" for note in status.notes]]
    return "\n".join(lines) + "\n"
