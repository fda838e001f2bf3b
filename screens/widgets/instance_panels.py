"""InstancePanels: the dashboard's panels, one per instance, in service order. Services with one
instance share grids (two columns at 80 columns, three on wide terminals); a service with several
is a KindGroup of its own. Shows only the instances a scope lets through, and says how tall that is."""

from __future__ import annotations

import math
from itertools import groupby
from typing import TYPE_CHECKING, Any

from textual.containers import Grid, Vertical

from screens.widgets.kind_group import KindGroup
from screens.widgets.service_panel import ServicePanel

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from console.probes import ProbeResult
    from screens.instance_scope import Entry

ROW_LINES = {False: 4, True: 5}
"""A panel row's height: narrow, wide (themes/dashboard.tcss)."""
COLUMNS = {False: 2, True: 3}


class InstancePanels(Vertical):
    def __init__(self, entries: list[Entry], **kwargs: Any) -> None:
        super().__init__(id="dashboard-panels", **kwargs)
        self.panels: dict[str, ServicePanel] = {}
        """label -> its panel."""
        self.groups: dict[str, KindGroup] = {}
        self.chunks: list[tuple[Grid | KindGroup, list[ServicePanel]]] = []
        """What is laid out one after the other: a grid of single-instance services, or a group."""
        single: list[ServicePanel] = []
        for service, same_kind in groupby(entries, key=lambda entry: entry.service):
            instances = list(same_kind)
            grouped = len(instances) > 1
            panels = [ServicePanel(entry.service, entry.instance, entry.tag_text, grouped=grouped)
                      for entry in instances]
            self.panels.update({panel.label: panel for panel in panels})
            if not grouped:
                single.extend(panels)
                continue
            if single:
                self.chunks.append((Grid(*single, classes="service-grid"), single))
                single = []
            group = self.groups[service] = KindGroup(service, panels)
            self.chunks.append((group, panels))
        if single:
            self.chunks.append((Grid(*single, classes="service-grid"), single))

    def compose(self) -> ComposeResult:
        for widget, _ in self.chunks:
            yield widget

    def show_only(self, labels: set[str]) -> None:
        """Hide the panels (and whole groups or grids) of instances not in ``labels``."""
        for widget, panels in self.chunks:
            for panel in panels:
                panel.display = panel.label in labels
            widget.display = any(panel.display for panel in panels)
        for group in self.groups.values():
            group.show_state()

    def height_for(self, labels: set[str], wide: bool) -> int:
        """Lines the panels of ``labels`` take: their rows, and a title line per group."""
        lines = 0
        for widget, panels in self.chunks:
            shown = sum(panel.label in labels for panel in panels)
            if shown:
                lines += math.ceil(shown / COLUMNS[wide]) * ROW_LINES[wide] + (1 if isinstance(widget, KindGroup) else 0)
        return lines

    def show_result(self, result: ProbeResult) -> None:
        panel = self.panels.get(result.label)
        if panel is None:
            return
        panel.result = result
        group = self.groups.get(panel.service)
        if group is not None:
            group.show_state()
