"""Retention for PITR: which base backups to keep, and which archived WAL files only older,
removed base backups needed. A pure plan first (what, why, how many bytes), applied only on
request.

Every segment from the oldest kept base backup's start onwards is kept, on every timeline, and
so are all ``.history`` files (they are tiny and recovery reads them to choose a timeline).
The newest base backup that passed verification is always kept.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.errors import UsageError
from console.pitr.layout import BaseBackup, list_base_backups
from console.pitr.walnames import BACKUP_LABEL, HISTORY, parse_lsn, parse_segment


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


def plan_wal_prune(backup_dir: Path, archive_dir: Path, keep_base: int | None = None) -> WalPrunePlan:
    """Keep the newest ``keep_base`` base backups (all when None) and the WAL they need."""
    if keep_base is not None and keep_base < 1:
        raise UsageError("--keep-base must be at least 1: removing every base backup leaves no recovery window")
    plan = WalPrunePlan()
    bases = list_base_backups(backup_dir)
    if not bases:
        plan.notes.append("no base backup: nothing is pruned (every archived segment may still be needed)")
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
        else:
            plan.remove_bases.append(PlannedRemoval(base.directory, _size(base.directory),
                                                    f"older than the newest {keep_base} base backup(s)"))
    needed = wal_segments_needed(kept)
    assert needed is not None
    size = kept[0].segment_size
    oldest = min(kept, key=lambda b: parse_lsn(b.start_lsn))
    plan.oldest_needed = oldest.metadata.get("start_wal_file")
    try:
        names = sorted(os.listdir(archive_dir))
    except OSError as exc:
        raise UsageError(f"cannot read the WAL archive {archive_dir}: {exc.strerror}") from None
    for name in names:
        core = name
        for suffix in (".sha256", ".zst"):
            core = core.removesuffix(suffix)
        if HISTORY.match(core):
            continue
        label = BACKUP_LABEL.match(core)
        segment = parse_segment(label.group(1) if label else core.removesuffix(".partial"), size)
        if segment is None:
            continue
        if segment.number < needed:
            plan.remove_wal.append(PlannedRemoval(archive_dir / name, _size(archive_dir / name),
                                                  f"before {plan.oldest_needed}, the start of the oldest kept base backup"))
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


def wal_prune_note(backup_dir: Path, archive_dir: Path) -> str | None:
    """The line `retention plan` shows about the WAL archive once base backups exist."""
    from console.formatting import size

    if not list_base_backups(backup_dir):
        return None
    plan = plan_wal_prune(backup_dir, archive_dir)
    if not plan.remove_wal:
        return f"WAL archive {archive_dir}: every file is needed by a base backup (from {plan.oldest_needed})"
    return (f"WAL archive {archive_dir}: {len(plan.remove_wal)} file(s) ({size(plan.bytes_freed)}) precede "
            f"{plan.oldest_needed}, where the oldest base backup starts; `backup-console wal prune` previews "
            "and removes them")
