"""The recovery window in words, shared by `wal status`, `status` and the dashboard panel:
"recoverable 2026-12-01 02:00 → 2026-12-07 01:40, 3 min behind"."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.pitr.layout import list_base_backups
from console.pitr.window import pitr_status

if TYPE_CHECKING:
    from console.pitr.layout import Where
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


def recovery_window_facts(backup_dir: Where, archive_dir: str, bin_dir: str = "") -> dict[str, Any] | None:
    """The window as plain data for probes, ``status --json``, monitoring and the dashboard;
    None when there is no archive directory or no base backup to measure from."""
    if not archive_dir or not list_base_backups(backup_dir):
        return None
    status = pitr_status(backup_dir, Path(archive_dir), bin_dir)
    current = status.current
    facts: dict[str, Any] = {"summary": window_summary(status), "timeline": status.latest_timeline,
                             "archive_lag_seconds": status.archive_lag_seconds, "start": None, "end": None,
                             "start_timestamp": None, "end_timestamp": None, "end_source": None,
                             "first_gap": None, "base_backups": len(status.base_backups),
                             "restore_points": status.restore_points}
    if current is not None and current.first_gap is not None:
        facts["first_gap"] = current.first_gap.name(status.segment_size)
    if current is not None and current.start is not None and current.end is not None:
        facts.update(start=current.start.isoformat(), end=current.end.end_time.isoformat(),
                     start_timestamp=current.start.timestamp(), end_timestamp=current.end.end_time.timestamp(),
                     end_source=current.end.end_source)
    return facts
