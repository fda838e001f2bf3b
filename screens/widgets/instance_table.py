"""InstanceTable: one line per instance when their panels do not fit: target, state, latency, newest
backup, its verification, tags. Rows are keyed by the instance's label and updated cell by cell."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.widgets import DataTable

from screens.instance_scope import state_counts
from screens.widgets.service_panel import STATE_WORDS

if TYPE_CHECKING:
    from console.probes import ProbeResult
    from screens.instance_scope import Entry

COLUMNS = (("target", "target"), ("state", "state"), ("latency", "latency"), ("newest", "backup"),
           ("verified", "verified"), ("tags", "tags"))
WIDTHS = {"state": 8, "latency": 7, "backup": 8, "verified": 10}
"""Fixed widths: the words that go there (DEGRADED, 1234 ms, 23h ago, unverified) and no column moves
when a value changes."""
THEME_COLOUR = {"up": "success", "degraded": "warning", "down": "error", "timeout": "error"}


class InstanceTable(DataTable[Any]):
    """Rows for the entries shown; probe results and backup facts are kept for rows filtered out too."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(id="instance-table", cursor_type="row", zebra_stripes=False, **kwargs)
        self.border_title = "Instances"
        self.results: dict[str, ProbeResult] = {}
        self.backups: dict[str, tuple[str, str]] = {}
        """label -> (newest backup: "2h ago", "never", "running"; its verification word)."""
        self.entries: list[Entry] = []
        self.tags_width = 20

    def show_entries(self, entries: list[Entry], width: int) -> None:
        """Rows for exactly these entries, in their order; the cursor stays on its instance when shown.

        ``width`` is the table's inside width: the tags column gets what the others leave (cut with
        an ellipsis), so the table never scrolls sideways.
        """
        current = self._cursor_label()
        self.entries = list(entries)
        self.clear(columns=True)
        widths = dict(WIDTHS, target=max([len(entry.label) for entry in entries] + [6]))
        used = sum(widths.values()) + 2 * self.cell_padding * len(COLUMNS) + 1  # + a vertical scrollbar
        self.tags_width = max(4, width - used)
        for title, key in COLUMNS:
            self.add_column(title, key=key, width=widths.get(key, self.tags_width))
        for entry in entries:
            self.add_row(*self._cells(entry), key=entry.label)
        labels = [entry.label for entry in entries]
        if current in labels:
            self.move_cursor(row=labels.index(current), animate=False)
        self._show_counts()

    def show_result(self, result: ProbeResult) -> None:
        self.results[result.label] = result
        if result.label in self.rows:
            self.update_cell(result.label, "state", self._state_cell(result.label))
            self.update_cell(result.label, "latency", self._latency_cell(result.label))
            self._show_counts()

    def show_backup(self, label: str, newest: str, verified: str) -> None:
        if self.backups.get(label) == (newest, verified):
            return
        self.backups[label] = (newest, verified)
        if label in self.rows:
            self.update_cell(label, "backup", newest)
            self.update_cell(label, "verified", verified)

    def selected_label(self) -> str | None:
        return self._cursor_label()

    def _cursor_label(self) -> str | None:
        if not self.row_count or not 0 <= self.cursor_row < self.row_count:
            return None
        return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)

    def _cells(self, entry: Entry) -> list[Any]:
        newest, verified = self.backups.get(entry.label, ("", ""))
        tags = entry.tag_text
        if len(tags) > self.tags_width:
            tags = tags[: self.tags_width - 1] + "…"
        return [entry.label, self._state_cell(entry.label), self._latency_cell(entry.label), newest, verified, tags]

    def _state_cell(self, label: str) -> Text:
        result = self.results.get(label)
        if result is None:
            return Text("...")
        state = result.state.value
        colour = self.app.theme_variables.get(THEME_COLOUR[state], "") if state in THEME_COLOUR else ""
        return Text(STATE_WORDS[state], style=f"bold {colour}".strip() if state in ("down", "timeout") else colour)

    def _latency_cell(self, label: str) -> str:
        result = self.results.get(label)
        return "-" if result is None or result.latency_ms is None else f"{result.latency_ms:.0f} ms"

    def _show_counts(self) -> None:
        """The subtitle counts the rows shown: ``15/24 up · 2 DOWN · 1 TIMEOUT``."""
        self.border_subtitle = state_counts([self.results.get(entry.label) for entry in self.entries])
