"""RecoveryTimeline: the recovery window drawn as text, with base backups (B), restore points (R)
and the first missing segment (X) placed along it, and a legend naming each mark, so nothing
depends on colour."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from textual.widgets import Static

if TYPE_CHECKING:
    from console.pitr.window import PitrStatus

BAR_WIDTH = 48


def _short(moment: datetime) -> str:
    return moment.astimezone().strftime("%m-%d %H:%M")


def timeline_text(status: PitrStatus) -> str:
    """Three to six lines that fit in 78 columns."""
    current = status.current
    if current is None or current.start is None or current.end is None:
        return "no recovery window yet: " + ("; ".join(current.problems) if current and current.problems
                                              else "take a base backup (backup postgres --physical)")
    start, end = current.start, current.end.end_time
    span = max(1e-6, (end - start).total_seconds())
    bar = ["─"] * BAR_WIDTH
    legend: list[str] = []

    def place(moment: datetime, mark: str, label: str) -> None:
        position = round((moment - start).total_seconds() / span * (BAR_WIDTH - 1))
        if 0 <= position < BAR_WIDTH:
            bar[position] = mark
            legend.append(f"{mark} {label}")

    for base in status.base_backups:
        if base.stop_time >= start:
            place(base.stop_time, "B", f"base backup {base.stamp}, ends {_short(base.stop_time)}")
    for point in status.restore_points:
        place(datetime.fromisoformat(point["time"]), "R", f"restore point {point['name']} at {_short(datetime.fromisoformat(point['time']))}")
    lines = [f"{_short(start)} ├{''.join(bar)}┤ {_short(end)}",
             f"timeline {status.latest_timeline}; end from {current.end.end_source}"]
    if current.first_gap is not None:
        lines.append(f"X missing segment {current.first_gap.name(status.segment_size)}: nothing after it is reachable")
    lines += legend[-3:]
    return "\n".join(lines)


class RecoveryTimeline(Static):
    """Shows ``timeline_text`` of a PitrStatus; empty until one arrives."""

    def show(self, status: Any) -> None:
        self.update(timeline_text(status))
