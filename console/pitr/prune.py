"""Retention for PITR: which archived WAL files the kept base backups need (``select_wal``, shared
by ``retention plan|apply`` through console.retention.pitr and by ``wal prune``), and ``wal
prune``'s own plan, which keeps the newest N base backups instead of following the policy.

Every segment from the oldest kept base backup's start onwards is kept, on every timeline, and
so are all ``.history`` files (they are tiny and recovery reads them to choose a timeline).
Nothing is removed while no base backup is kept or one cannot be read. The newest base backup
that passed verification is always kept.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.errors import UsageError
from console.pitr.layout import METADATA_NAME, STAMP, BaseBackup, Where, base_root, list_base_backups
from console.pitr.walnames import BACKUP_LABEL, HISTORY, Segment, parse_lsn, parse_segment


@dataclass(frozen=True)
class PlannedRemoval:
    path: Path
    size_bytes: int
    reason: str


@dataclass
class WalPrunePlan:
    keep_bases: list[tuple[BaseBackup, str]] = field(default_factory=list)
    remove_bases: list[PlannedRemoval] = field(default_factory=list)
    remove_wal: list[PlannedRemoval] = field(default_factory=list)
    oldest_needed: str | None = None
    """The first segment still needed (by the oldest kept base backup)."""
    notes: list[str] = field(default_factory=list)
    selection: WalSelection | None = None

    @property
    def bytes_freed(self) -> int:
        return sum(item.size_bytes for item in self.remove_bases + self.remove_wal)

    def as_json(self) -> dict[str, Any]:
        return {
            "keep_base_backups": [{"set_id": base.set_id, "reason": reason} for base, reason in self.keep_bases],
            "remove_base_backups": [{"path": str(r.path), "size_bytes": r.size_bytes, "reason": r.reason}
                                    for r in self.remove_bases],
            "remove_wal_files": len(self.remove_wal),
            "remove_wal": [{"name": r.path.name, "size_bytes": r.size_bytes} for r in self.remove_wal],
            "oldest_needed_segment": self.oldest_needed,
            "bytes_freed": self.bytes_freed,
            "notes": self.notes,
        }


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    try:
        return path.stat().st_size
    except OSError:
        return 0


def wal_segments_needed(bases: list[BaseBackup]) -> int | None:
    """The lowest segment number any kept base backup needs (None without a base backup)."""
    if not bases:
        return None
    return min(parse_lsn(base.start_lsn) // base.segment_size for base in bases)


def read_base_backups(backup_dir: Where) -> tuple[list[BaseBackup], list[str]]:
    """The finished base backups, and what could not be read.

    ``list_base_backups`` skips a directory whose ``backup.json`` is unreadable; before deleting
    WAL that matters (that backup's WAL would go), so here it is a problem that stops WAL pruning.
    A directory without ``backup.json`` is a base backup still being written (or never finished):
    it is newer than every finished one, or unusable, and protects nothing.
    """
    problems: list[str] = []
    root = base_root(backup_dir)
    try:
        entries = sorted(root.iterdir()) if root.exists() else []
    except OSError as exc:
        return [], [f"cannot read {root}: {exc.strerror}"]
    bases = {base.directory: base for base in list_base_backups(backup_dir)}
    for entry in entries:
        if entry in bases or not STAMP.match(entry.name) or not entry.is_dir():
            continue
        metadata = entry / METADATA_NAME
        if metadata.exists() or not os.access(entry, os.R_OK | os.X_OK):
            problems.append(f"cannot read the metadata of base backup {entry.name} ({metadata})")
    for base in bases.values():
        try:
            parse_lsn(base.start_lsn)
            int(base.metadata.get("wal_segment_size") or 0)
        except (KeyError, ValueError, TypeError):
            problems.append(f"base backup {base.set_id} has no readable start_lsn in {base.directory / METADATA_NAME}")
    return list(bases.values()), problems


@dataclass(frozen=True)
class WalFile:
    """One archived WAL file (segment, ``.partial`` or ``.backup``) with its sidecar."""

    name: str
    segment: Segment
    paths: tuple[Path, ...]
    """The stored file(s) first, the ``.sha256`` sidecar last: the order they are deleted in."""
    size_bytes: int
    mtime: float


@dataclass(frozen=True)
class WalRange:
    """Consecutive archived WAL files of one timeline, removed together."""

    timeline: int
    files: tuple[WalFile, ...]
    reason: str

    @property
    def first(self) -> str:
        return self.files[0].name

    @property
    def last(self) -> str:
        return self.files[-1].name

    @property
    def count(self) -> int:
        return len(self.files)

    @property
    def size_bytes(self) -> int:
        return sum(item.size_bytes for item in self.files)

    @property
    def newest_mtime(self) -> float:
        return max(item.mtime for item in self.files)

    @property
    def label(self) -> str:
        return self.first if self.count == 1 else f"{self.first}..{self.last}"

    def as_json(self) -> dict[str, Any]:
        return {"timeline": self.timeline, "first": self.first, "last": self.last, "count": self.count,
                "size_bytes": self.size_bytes, "reason": self.reason}


@dataclass
class WalSelection:
    """Which archived WAL files the kept base backups need, and the rest, in ranges."""

    archive_dir: Path
    remove: list[WalRange] = field(default_factory=list)
    keep_files: int = 0
    keep_bytes: int = 0
    history_files: int = 0
    oldest_needed: str | None = None
    """The first segment still needed (the oldest kept base backup's start)."""
    protected_by: BaseBackup | None = None
    refused: str | None = None
    """Why nothing is removed at all (no kept base backup, unreadable metadata or archive)."""

    @property
    def files_to_remove(self) -> int:
        return sum(item.count for item in self.remove)

    @property
    def bytes_to_remove(self) -> int:
        return sum(item.size_bytes for item in self.remove)

    def as_json(self) -> dict[str, Any]:
        return {"archive_dir": str(self.archive_dir), "remove": [item.as_json() for item in self.remove],
                "files_to_remove": self.files_to_remove, "bytes_to_remove": self.bytes_to_remove,
                "keep_files": self.keep_files, "keep_bytes": self.keep_bytes, "history_files": self.history_files,
                "oldest_needed_segment": self.oldest_needed,
                "protected_by": self.protected_by.set_id if self.protected_by else None, "refused": self.refused}


def select_wal(archive_dir: Path, kept: list[BaseBackup], problems: list[str] | None = None) -> WalSelection:
    """Every archived file from the oldest kept base backup's start segment on is kept, on every
    timeline (a base backup on another timeline, or recovery along a later branch, reads segment
    numbers at or after some kept base backup's start); so is every ``.history`` file and every
    file whose name is not a WAL name (temporary ``.<name>.tmp`` files of a ``wal push`` under way
    included). The rest is removed, grouped into ranges of consecutive segments per timeline.

    Nothing is removed when no base backup is kept, when a base backup's metadata cannot be read,
    or when the kept base backups do not agree on the cluster (segment size, system identifier).
    """
    selection = WalSelection(archive_dir)
    if problems:
        selection.refused = f"{problems[0]}: no WAL is removed while base backups cannot all be read"
        return selection
    if not kept:
        selection.refused = "no base backup is kept: every archived WAL file is kept"
        return selection
    sizes = {base.segment_size for base in kept}
    systems = {str(base.metadata.get("system_identifier")) for base in kept if base.metadata.get("system_identifier")}
    if len(sizes) > 1 or len(systems) > 1:
        selection.refused = ("the kept base backups come from different clusters (segment size or system identifier): "
                             "no WAL is removed")
        return selection
    size = sizes.pop()
    oldest = min(kept, key=lambda base: parse_lsn(base.start_lsn))
    needed = parse_lsn(oldest.start_lsn) // size
    selection.protected_by = oldest
    selection.oldest_needed = oldest.metadata.get("start_wal_file") or Segment(oldest.timeline, needed).name(size)
    try:
        entries = [entry for entry in os.scandir(archive_dir) if entry.is_file()]
    except OSError as exc:
        selection.refused = f"cannot read the WAL archive {archive_dir}: {exc.strerror}"
        return selection
    grouped: dict[str, list[os.DirEntry[str]]] = {}
    for entry in entries:
        if entry.name.startswith("."):
            continue
        core = entry.name
        for suffix in (".sha256", ".zst"):
            core = core.removesuffix(suffix)
        grouped.setdefault(core, []).append(entry)
    removable: list[WalFile] = []
    for core, found in grouped.items():
        if HISTORY.match(core):
            selection.history_files += 1
            continue
        label = BACKUP_LABEL.match(core)
        segment = parse_segment(label.group(1) if label else core.removesuffix(".partial"), size)
        if segment is None:
            continue
        found.sort(key=lambda entry: (entry.name.endswith(".sha256"), entry.name))
        stats = [entry.stat() for entry in found]
        item = WalFile(core, segment, tuple(Path(entry.path) for entry in found),
                       sum(stat.st_size for stat in stats), max(stat.st_mtime for stat in stats))
        if segment.number < needed:
            removable.append(item)
        else:
            selection.keep_files += 1
            selection.keep_bytes += item.size_bytes
    reason = (f"older than the start of the oldest kept base backup {oldest.set_id} "
              f"({selection.oldest_needed})")
    removable.sort(key=lambda item: (item.segment.timeline, item.segment.number, item.name))
    current: list[WalFile] = []
    for item in removable:
        if current and (item.segment.timeline != current[-1].segment.timeline
                        or item.segment.number > current[-1].segment.number + 1):
            selection.remove.append(WalRange(current[0].segment.timeline, tuple(current), reason))
            current = []
        current.append(item)
    if current:
        selection.remove.append(WalRange(current[0].segment.timeline, tuple(current), reason))
    selection.remove.sort(key=lambda item: (item.files[0].segment.number, item.timeline))
    return selection


def plan_wal_prune(backup_dir: Where, archive_dir: Path, keep_base: int | None = None) -> WalPrunePlan:
    """Keep the newest ``keep_base`` base backups (all when None) and the WAL they need."""
    if keep_base is not None and keep_base < 1:
        raise UsageError("--keep-base must be at least 1: removing every base backup leaves no recovery window")
    plan = WalPrunePlan()
    bases, problems = read_base_backups(backup_dir)
    if not bases:
        plan.notes.append("no base backup: nothing is pruned (every archived segment may still be needed)")
        plan.notes.extend(problems)
        return plan
    kept = bases if keep_base is None else bases[-keep_base:]
    verified = [b for b in bases if b.metadata.get("verification_status") == "passed"]
    if verified and verified[-1] not in kept:
        kept = [verified[-1], *kept]
    for base in bases:
        if base in kept:
            reason = "newest verified" if verified and base is verified[-1] else (
                "within --keep-base" if keep_base is not None else "all base backups kept")
            plan.keep_bases.append((base, reason))
        elif not problems:
            plan.remove_bases.append(PlannedRemoval(base.directory, _size(base.directory),
                                                    f"older than the newest {keep_base} base backup(s)"))
    selection = select_wal(archive_dir, kept, problems)
    if selection.refused and selection.refused.startswith("cannot read the WAL archive"):
        raise UsageError(selection.refused)
    if selection.refused:
        plan.notes.append(selection.refused)
    plan.oldest_needed = selection.oldest_needed
    for wal_range in selection.remove:
        for item in wal_range.files:
            for path in item.paths:
                plan.remove_wal.append(PlannedRemoval(path, _size(path), wal_range.reason))
    plan.selection = selection
    return plan


def apply_wal_prune(plan: WalPrunePlan) -> int:
    """Delete what the plan lists; returns the number of paths removed."""
    removed = 0
    for item in plan.remove_wal:
        item.path.unlink(missing_ok=True)
        removed += 1
    for item in plan.remove_bases:
        shutil.rmtree(item.path, ignore_errors=True)
        removed += 1
    return removed
