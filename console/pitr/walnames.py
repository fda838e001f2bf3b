"""WAL file names and LSNs: parsing ``000000010000000A000000FF``, ``00000002.history`` and
``pg_lsn`` text, and turning an LSN into the segment that holds it.

Standard library only: ``wal push`` and ``wal get`` import this once per segment.
"""

from __future__ import annotations

import re
from typing import NamedTuple

DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024
SEGMENT = re.compile(r"^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$")
HISTORY = re.compile(r"^([0-9A-F]{8})\.history$")
BACKUP_LABEL = re.compile(r"^([0-9A-F]{24})\.([0-9A-F]{8})\.backup$")
ARCHIVABLE = re.compile(r"^(?:[0-9A-F]{24}(?:\.partial|\.[0-9A-F]{8}\.backup)?|[0-9A-F]{8}\.history)$")
"""Every name PostgreSQL hands to archive_command (segments, partial segments, backup and history files)."""


class Segment(NamedTuple):
    """A WAL segment: its timeline and its number counted from the start of WAL."""

    timeline: int
    number: int

    def name(self, segment_size: int = DEFAULT_SEGMENT_SIZE) -> str:
        per_log = 0x100000000 // segment_size
        return f"{self.timeline:08X}{self.number // per_log:08X}{self.number % per_log:08X}"


def parse_segment(name: str, segment_size: int = DEFAULT_SEGMENT_SIZE) -> Segment | None:
    found = SEGMENT.match(name)
    if not found:
        return None
    per_log = 0x100000000 // segment_size
    return Segment(int(found.group(1), 16), int(found.group(2), 16) * per_log + int(found.group(3), 16))


def parse_lsn(text: str) -> int:
    """``'0/3000028'`` -> an integer; ValueError for anything else."""
    high, sep, low = text.strip().partition("/")
    if not sep or not high or not low:
        raise ValueError(f"not an LSN: {text!r} (expected the form 0/3000028)")
    return (int(high, 16) << 32) | int(low, 16)


def format_lsn(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def segment_of(lsn: int, timeline: int, segment_size: int = DEFAULT_SEGMENT_SIZE) -> Segment:
    return Segment(timeline, lsn // segment_size)


def is_valid_name(name: str) -> bool:
    return bool(ARCHIVABLE.match(name))
