"""KindGroup: the panels of a kind's several instances under one title line with their worst state in words."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.containers import Grid, Vertical
from textual.widgets import Static

from screens.instance_scope import WORST_FIRST, group_title, worst_state

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from screens.widgets.service_panel import ServicePanel


class KindGroup(Vertical):
    """``PostgreSQL  2/3 up · 1 DOWN`` over a grid of the instances' panels; classes -down ... colour the title."""

    def __init__(self, service: str, panels: list[ServicePanel], **kwargs: Any) -> None:
        super().__init__(id=f"group-{service}", classes="kind-group", **kwargs)
        self.service = service
        self.panels = panels
        self.title_words = group_title(service, [None] * len(panels))

    def compose(self) -> ComposeResult:
        yield Static(self.title_words, classes="group-title", markup=False)
        with Grid(classes="service-grid"):
            yield from self.panels

    def show_state(self) -> None:
        """The title counts the panels shown now (a filter may hide some) and names their worst state."""
        shown = [panel.result for panel in self.panels if panel.display]
        self.title_words = group_title(self.service, shown)
        worst = worst_state(shown)
        for state in WORST_FIRST:
            self.set_class(state == worst, f"-{state}")
        self.query_one(".group-title", Static).update(self.title_words)
