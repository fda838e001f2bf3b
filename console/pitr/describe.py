"""The recovery window in words, shared by `wal status`, `status` and the dashboard panel:
"recoverable 2026-12-01 02:00 → 2026-12-07 01:40, 3 min behind"."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from console.pitr.window import PitrStatus


def _local(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def behind(seconds: float) -> str:
    if seconds < 90:
        return f"{int(seconds)} s behind"
    if seconds < 5400:
        return f"{int(seconds // 60)} min behind"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h behind"
    return f"{seconds / 86400:.1f} days behind"


def window_summary(status: PitrStatus, now: float | None = None) -> str:
    """One line: the window and how far its end lags behind now, or why there is none."""
    current = status.current
    if current is None or current.end is None or current.start is None:
        if not status.base_backups:
            return "no recovery window: no base backup (backup postgres --physical)"
        return "no recovery window: " + ("; ".join(current.problems) if current else "empty archive")
    lag = (time.time() if now is None else now) - current.end.end_time.timestamp()
    text = f"recoverable {_local(current.start)} → {_local(current.end.end_time)}, {behind(max(0.0, lag))}"
    if current.first_gap is not None:
        text += f" (gap at {current.first_gap.name(status.segment_size)})"
    return text


def window_lines(status: PitrStatus) -> list[str]:
    lines = [f"recovery window (timeline {status.latest_timeline}): {window_summary(status)}"]
    current = status.current
    if current is not None and current.end is not None:
        lines.append(f"  window end from: {current.end.end_source}")
    if current is not None and current.checked_from is not None:
        newest = current.newest.name(status.segment_size) if current.newest else "-"
        lines.append(f"  continuity {current.checked_from.name(status.segment_size)} .. {newest}: "
                     + ("complete" if current.first_gap is None
                        else f"FIRST GAP {current.first_gap.name(status.segment_size)}"))
    lines.append(f"  base backups: {len(status.base_backups)}; restore points: {len(status.restore_points)}")
    return lines
