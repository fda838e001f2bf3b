"""ChecklistView: one service's checklist as a keyboard list, each item's state as text and colour.

It holds the checklist's ChecklistRun (states, ticks, notes, the gate); the screens change it
and tell the view which rows to redraw. Also the checklist messages the drill screen stamps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message
from textual.widgets import Label, ListItem, ListView

from console.checklists import Checklist, ChecklistRun, ItemResult, ItemStatus
from console.status import Status

if TYPE_CHECKING:
    from textual.app import ComposeResult


class ChecklistItemChecked(Message):
    """An automated item's check finished (posted from a worker thread)."""

    def __init__(self, service: str, result: ItemResult) -> None:
        super().__init__()
        self.service = service
        self.result = result


class ChecklistItemTicked(Message):
    def __init__(self, service: str, status: ItemStatus, who: str) -> None:
        super().__init__()
        self.service = service
        self.status = status
        self.who = who


class ChecklistNoteAdded(Message):
    def __init__(self, service: str, status: ItemStatus, text: str, who: str) -> None:
        super().__init__()
        self.service = service
        self.status = status
        self.text = text
        self.who = who


class GateOverridden(Message):
    def __init__(self, service: str, reason: str, force_reason: str, who: str) -> None:
        super().__init__()
        self.service = service
        self.reason = reason
        self.force_reason = force_reason
        self.who = who


class ItemRow(ListItem):
    """Two lines: ``[FAIL] Title (manual, optional)`` and the evidence (or the latest note)."""

    def __init__(self, status: ItemStatus) -> None:
        super().__init__(classes="item-row", id=f"item-{status.item.id}")
        self.status = status

    def compose(self) -> ComposeResult:
        yield Label(classes="item-head", markup=False)
        yield Label(classes="item-evidence", markup=False)

    def on_mount(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        status, item = self.status, self.status.item
        tags = [tag for tag, present in (("manual", item.manual), ("optional", not item.required)) if present]
        head = f"{status.state.mark} {item.title}" + (f" ({', '.join(tags)})" if tags else "")
        if status.evidence:
            evidence = status.evidence
        elif item.manual:
            evidence = "needs a person: space ticks it"
        else:
            evidence = "not run yet (r runs the checks)"
        if status.notes:
            evidence += f" | note: {status.notes[-1]}"
        self.query_one(".item-head", Label).update(head)
        self.query_one(".item-evidence", Label).update(evidence)
        for state in Status:
            self.set_class(status.state is state, f"-{state.value}")


class ChecklistView(ListView):
    """The items of one checklist; ``run`` is its state."""

    def __init__(self, checklist: Checklist) -> None:
        self.checklist = checklist
        self.run = ChecklistRun(checklist)
        self.checked_once = False
        super().__init__(*[ItemRow(self.run[item.id]) for item in checklist.items],
                         id=f"checklist-{checklist.service}", classes="checklist-view")

    @property
    def service(self) -> str:
        return self.checklist.service

    @property
    def current_status(self) -> ItemStatus | None:
        row = self.highlighted_child
        return row.status if isinstance(row, ItemRow) else None

    def redraw_item(self, item_id: str) -> None:
        for row in self.query(ItemRow):
            if row.status.item.id == item_id:
                row.redraw()
