"""What the WAL archive holds, per timeline: its segments, its ``.history`` files, and which
file recovery reads for each segment number along a timeline's history.

PostgreSQL reads segment ``n`` from the newest timeline on the path whose switch point lies
at or before that segment (XLogFileReadAnyTLI), so the segment holding a switch point is read
from the new timeline and the ones before it from the parent.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from console.pitr import archive
from console.pitr.walnames import DEFAULT_SEGMENT_SIZE, HISTORY, Segment, parse_lsn, parse_segment

SUFFIXES = (".zst",)


@dataclass(frozen=True)
class Branch:
    """One timeline on a path and the LSN at which it begins (0 for the first)."""

    timeline: int
    begins_at: int


@dataclass
class ArchiveIndex:
    directory: Path
    segment_size: int
    segments: dict[Segment, float] = field(default_factory=dict)
    """Each archived segment and its modification time (when it was archived)."""
    histories: dict[int, list[Branch]] = field(default_factory=dict)
    """Timeline -> its path from timeline 1, read from ``<tli>.history``."""

    @property
    def timelines(self) -> list[int]:
        return sorted({segment.timeline for segment in self.segments} | set(self.histories) | {1})

    @property
    def latest_timeline(self) -> int:
        return max(self.timelines)

    def path(self, timeline: int) -> list[Branch]:
        """The timelines recovery follows to reach ``timeline``, oldest first."""
        return self.histories.get(timeline) or [Branch(timeline, 0)]

    def expected(self, number: int, path: list[Branch]) -> Segment:
        """The file recovery asks for when it needs segment ``number`` on this path."""
        chosen = path[0].timeline
        for branch in path:
            if branch.begins_at // self.segment_size <= number:
                chosen = branch.timeline
        return Segment(chosen, number)

    def newest_on(self, path: list[Branch]) -> Segment | None:
        """The newest archived segment that recovery along ``path`` would read."""
        best: Segment | None = None
        for segment in self.segments:
            if any(b.timeline == segment.timeline for b in path) and self.expected(segment.number, path) == segment:
                if best is None or segment.number > best.number:
                    best = segment
        return best

    def first_gap(self, start: int, end: int, path: list[Branch]) -> Segment | None:
        """The first segment from ``start`` to ``end`` (segment numbers) that is not archived."""
        for number in range(start, end + 1):
            wanted = self.expected(number, path)
            if wanted not in self.segments:
                return wanted
        return None


def _parse_history(text: str, timeline: int) -> list[Branch]:
    branches: list[Branch] = []
    begins = 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2 or line.lstrip().startswith("#"):
            continue
        try:
            parent, switch = int(parts[0]), parse_lsn(parts[1])
        except ValueError:
            continue
        branches.append(Branch(parent, begins))
        begins = switch
    branches.append(Branch(timeline, begins))
    return branches


def scan_archive(directory: Path, segment_size: int = DEFAULT_SEGMENT_SIZE) -> ArchiveIndex:
    """Index the archive directory (an unreadable one is an empty index)."""
    index = ArchiveIndex(directory, segment_size)
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return index
    for entry in entries:
        name = entry.name
        for suffix in SUFFIXES:
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        segment = parse_segment(name, segment_size)
        if segment is not None:
            index.segments[segment] = entry.stat().st_mtime
            continue
        found = HISTORY.match(name)
        if found:
            stored = archive.find(directory, name)
            if stored is not None:
                text = b"".join(archive.stored_bytes(stored)).decode(errors="replace")
                index.histories[int(found.group(1), 16)] = _parse_history(text, int(found.group(1), 16))
    return index
