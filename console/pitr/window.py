"""The recovery window: from the end of the oldest usable base backup to the last archived
commit, per timeline, with the first missing segment named when the chain is broken.

A base backup is usable on a timeline when the timeline's history passes through it and every
segment from its start to the end of the window is archived. The end is the newest commit
record pg_waldump finds at the end of the unbroken chain; when pg_waldump cannot say (missing
binary, no commit in the last segments) it is the archive time of the last segment, and
``end_source`` says which.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from console.pitr.layout import BaseBackup, Where, as_root, list_base_backups, read_restore_points
from console.pitr.timelines import ArchiveIndex, Branch, scan_archive
from console.pitr.waldump import segment_times
from console.pitr.walnames import Segment, format_lsn, parse_lsn

WALDUMP_LOOKBACK = 4
"""Segments read backwards from the end of the chain looking for a commit record."""


@dataclass(frozen=True)
class ChainEnd:
    """Where an unbroken run of segments ends, and what is known about its last moment."""

    last_segment: Segment
    gap: Segment | None
    """The first missing segment after the run, when newer segments exist beyond it."""
    end_time: datetime
    end_lsn: int
    end_source: str
    last_record_lsn: int | None = None
    """The newest record of any kind in the chain: how far an LSN or restore-point target can go."""


@dataclass(frozen=True)
class TimelineWindow:
    timeline: int
    path: list[Branch]
    base: BaseBackup | None
    start: datetime | None
    end: ChainEnd | None
    first_gap: Segment | None
    checked_from: Segment | None
    newest: Segment | None
    problems: list[str] = field(default_factory=list)

    def as_json(self, segment_size: int) -> dict[str, Any]:
        window = None
        if self.base is not None and self.start is not None and self.end is not None:
            window = {"start": self.start.isoformat(), "end": self.end.end_time.isoformat(),
                      "start_lsn": self.base.stop_lsn, "end_lsn": format_lsn(self.end.end_lsn),
                      "end_source": self.end.end_source, "base_backup": self.base.set_id}
        return {
            "timeline": self.timeline,
            "path": [{"timeline": b.timeline, "begins_at": format_lsn(b.begins_at)} for b in self.path],
            "recovery_window": window,
            "continuity": {"checked_from": self.checked_from.name(segment_size) if self.checked_from else None,
                           "newest": self.newest.name(segment_size) if self.newest else None,
                           "first_gap": self.first_gap.name(segment_size) if self.first_gap else None,
                           "ok": self.first_gap is None and self.checked_from is not None},
            "problems": self.problems,
        }


@dataclass(frozen=True)
class PitrStatus:
    archive_dir: Path
    segment_size: int
    windows: list[TimelineWindow]
    latest_timeline: int
    base_backups: list[BaseBackup]
    archive_lag_seconds: float | None
    """Seconds since the newest segment was archived."""
    restore_points: list[dict[str, Any]]

    @property
    def current(self) -> TimelineWindow | None:
        return next((w for w in self.windows if w.timeline == self.latest_timeline), None)

    @property
    def problems(self) -> list[str]:
        return self.current.problems if self.current else []

    def as_json(self) -> dict[str, Any]:
        current = self.current
        return {
            "archive_dir": str(self.archive_dir),
            "latest_timeline": self.latest_timeline,
            "recovery_window": current.as_json(self.segment_size)["recovery_window"] if current else None,
            "continuity": current.as_json(self.segment_size)["continuity"] if current else None,
            "archive_lag_seconds": None if self.archive_lag_seconds is None else round(self.archive_lag_seconds, 1),
            "timelines": [window.as_json(self.segment_size) for window in self.windows],
            "base_backups": [{"set_id": b.set_id, "timeline": b.timeline, "start_lsn": b.start_lsn,
                              "stop_lsn": b.stop_lsn, "stop_time": b.metadata["stop_time"],
                              "verification_status": b.metadata.get("verification_status")}
                             for b in self.base_backups],
            "restore_points": self.restore_points,
            "problems": self.problems,
        }


def on_path(base: BaseBackup, path: list[Branch], segment_size: int) -> bool:
    """Does recovery along ``path`` pass through this base backup's start?"""
    for index, branch in enumerate(path):
        if branch.timeline == base.timeline:
            ends = path[index + 1].begins_at if index + 1 < len(path) else None
            return ends is None or parse_lsn(base.stop_lsn) <= ends
    return False


def chain_end(index: ArchiveIndex, start: int, path: list[Branch], bin_dir: str = "",
              cache_dir: Path | None = None) -> ChainEnd | None:
    """Follow the archive from segment number ``start`` until the first missing segment."""
    newest = index.newest_on(path)
    if newest is None or newest.number < start:
        return None
    gap = index.first_gap(start, newest.number, path)
    last_number = (gap.number - 1) if gap else newest.number
    if last_number < start:
        return None
    last = index.expected(last_number, path)
    last_record: int | None = None
    for number in range(last_number, max(start, last_number - WALDUMP_LOOKBACK + 1) - 1, -1):
        segment = index.expected(number, path)
        times = segment_times(index.directory, segment.name(index.segment_size), bin_dir, cache_dir)
        if last_record is None and times is not None and times.last_record_lsn:
            last_record = parse_lsn(times.last_record_lsn)
        if times is not None and times.last_commit_time:
            return ChainEnd(last, gap, datetime.fromisoformat(times.last_commit_time),
                            parse_lsn(times.last_commit_lsn or "0/0"), "pg_waldump: last commit record", last_record)
    archived = datetime.fromtimestamp(index.segments[last], timezone.utc)
    return ChainEnd(last, gap, archived, (last.number + 1) * index.segment_size,
                    "archive time of the last segment (pg_waldump found no commit)", last_record)


def timeline_window(index: ArchiveIndex, timeline: int, bases: list[BaseBackup], bin_dir: str = "",
                    cache_dir: Path | None = None) -> TimelineWindow:
    path = index.path(timeline)
    size = index.segment_size
    usable = [b for b in bases if on_path(b, path, size)]
    newest = index.newest_on(path)
    if timeline > 1 and timeline not in index.histories:
        return TimelineWindow(timeline, path, None, None, None, None, None, newest,
                              [f"timeline {timeline} has segments but no {timeline:08X}.history in the archive: "
                               "push it from the promoted cluster's pg_wal (backup-console wal push)"])
    if not usable:
        return TimelineWindow(timeline, path, None, None, None, None, None, newest,
                              ["no base backup on this timeline: no recovery window (run `backup postgres --physical`)"])
    oldest = usable[0]
    checked_from = index.expected(parse_lsn(oldest.start_lsn) // size, path)
    first_gap = index.first_gap(checked_from.number, newest.number, path) if newest else checked_from
    # the oldest base backup whose chain reaches the newest segment; else the newest base backup
    chosen = usable[-1]
    for base in usable:
        start_number = parse_lsn(base.start_lsn) // size
        if newest is not None and index.first_gap(start_number, newest.number, path) is None:
            chosen = base
            break
    end = chain_end(index, parse_lsn(chosen.start_lsn) // size, path, bin_dir, cache_dir)
    problems = []
    if first_gap is not None:
        problems.append(f"WAL segment {first_gap.name(size)} is missing from the archive: recovery cannot pass it")
    if end is None:
        problems.append(f"the WAL of base backup {chosen.set_id} is not archived (from {checked_from.name(size)})")
    return TimelineWindow(timeline, path, chosen, chosen.stop_time, end, first_gap, checked_from, newest, problems)


def pitr_status(backup_dir: Where, archive_dir: Path, bin_dir: str = "") -> PitrStatus:
    """Everything `wal status`, the dashboard and restore need to know about the window (of the
    default instance for BACKUP_DIR, of another for a root scoped to it)."""
    bases = list_base_backups(backup_dir)
    size = bases[-1].segment_size if bases else 16 * 1024 * 1024
    index = scan_archive(archive_dir, size)
    cache_dir = as_root(backup_dir).path if as_root(backup_dir).path.is_dir() else None
    windows = [timeline_window(index, timeline, bases, bin_dir, cache_dir) for timeline in index.timelines]
    newest_time = max(index.segments.values(), default=None)
    return PitrStatus(archive_dir, size, windows, index.latest_timeline, bases,
                      None if newest_time is None else max(0.0, time.time() - newest_time),
                      [point.as_json() for point in read_restore_points(backup_dir)])
