"""Planning a point-in-time restore without writing anything: which base backup, along which
timeline, and whether the archived WAL reaches the target. Every refusal happens here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.errors import UsageError
from console.pitr.layout import BaseBackup, Where, as_root, base_root, list_base_backups, read_restore_points
from console.pitr.targets import Target
from console.pitr.timelines import Branch, scan_archive
from console.pitr.walnames import format_lsn, parse_lsn
from console.pitr.window import ChainEnd, chain_end, on_path


class TargetRefused(UsageError):
    """The target lies outside what the base backups and the archive can reach (exit 2)."""

    def __init__(self, message: str, window: dict[str, Any] | None, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.window = window


@dataclass(frozen=True)
class RestorePlan:
    target: Target
    base: BaseBackup
    timeline: int
    path: list[Branch]
    chain: ChainEnd
    archive_dir: Path
    segment_size: int
    target_lsn: int | None
    """Known for LSN and name targets: where replay must get to."""

    def window(self) -> dict[str, Any]:
        return _window_json(self.base, self.chain)

    def as_json(self) -> dict[str, Any]:
        return {"target": self.target.as_json(), "base_backup": self.base.set_id, "timeline": self.timeline,
                "start_lsn": self.base.start_lsn, "window": self.window(),
                "wal_from": self.base.metadata.get("start_wal_file"),
                "wal_to": self.chain.last_segment.name(self.segment_size)}


def _window_json(base: BaseBackup, chain: ChainEnd | None) -> dict[str, Any]:
    return {"start": base.stop_time.isoformat(), "end": chain.end_time.isoformat() if chain else None,
            "start_lsn": base.stop_lsn, "end_lsn": format_lsn(chain.end_lsn) if chain else None,
            "base_backup": base.set_id}


def _describe(window: dict[str, Any] | None) -> str:
    if not window or not window.get("end"):
        return "no recovery window"
    return f"window {window['start']} .. {window['end']} (LSN {window['start_lsn']} .. {window['end_lsn']})"


def plan_restore(backup_dir: Where, archive_dir: Path, target: Target, timeline: int | None = None,
                 bin_dir: str = "") -> RestorePlan:
    """Choose the base backup (the newest that ends before the target) and check the WAL chain.

    Raises:
        TargetRefused: the target is before the oldest base backup's end, after the last archived
            commit, beyond a missing segment, or an unknown restore point.
    """
    bases = list_base_backups(backup_dir)
    if not bases:
        raise TargetRefused(f"no base backup under {base_root(backup_dir)}", None,
                            hint="take one with `backup-console backup postgres --physical`")
    size = bases[-1].segment_size
    index = scan_archive(archive_dir, size)
    target_lsn: int | None = target.lsn
    if target.kind == "name":
        points = [p for p in read_restore_points(backup_dir) if p.name == target.name]
        if not points:
            known = ", ".join(sorted({p.name for p in read_restore_points(backup_dir)})) or "none recorded"
            raise TargetRefused(f"no restore point named {target.name!r} (known: {known})", None,
                                hint="create one with `backup-console wal mark NAME`")
        point = points[-1]
        target_lsn = parse_lsn(point.lsn)
        if timeline is None and point.timeline not in [b.timeline for b in index.path(index.latest_timeline)]:
            timeline = point.timeline
    chosen_timeline = timeline if timeline is not None else index.latest_timeline
    if chosen_timeline not in index.timelines:
        raise UsageError(f"timeline {chosen_timeline} is not in the archive (known: "
                         f"{', '.join(map(str, index.timelines))})")
    path = index.path(chosen_timeline)
    usable = [b for b in bases if on_path(b, path, size)]
    if not usable:
        raise TargetRefused(f"no base backup lies on timeline {chosen_timeline}'s history", None)
    if target.kind == "time":
        assert target.time is not None
        before = [b for b in usable if b.stop_time <= target.time]
    else:
        assert target_lsn is not None
        before = [b for b in usable if parse_lsn(b.stop_lsn) <= target_lsn]
    if not before:
        oldest = usable[0]
        window = _window_json(oldest, chain_end(index, parse_lsn(oldest.start_lsn) // size, path, bin_dir,
                                                as_root(backup_dir).path))
        raise TargetRefused(f"target {target.describe()} is before the end of the oldest base backup "
                            f"({oldest.set_id} ends {oldest.stop_time.isoformat()}, LSN {oldest.stop_lsn}); "
                            f"{_describe(window)}", window)
    base = before[-1]
    chain = chain_end(index, parse_lsn(base.start_lsn) // size, path, bin_dir, as_root(backup_dir).path)
    window = _window_json(base, chain)
    if chain is None:
        missing = index.expected(parse_lsn(base.start_lsn) // size, path).name(size)
        raise TargetRefused(f"the WAL of {base.set_id} is not archived (first missing: {missing})", window)
    # recovery to a time stops before the first commit after it, so it needs one: the last commit is exclusive
    # an LSN or a restore point is reached once a record at or after it is replayed
    reachable_lsn = chain.last_record_lsn if chain.last_record_lsn is not None else chain.end_lsn
    beyond = (target.time >= chain.end_time) if target.kind == "time" else (target_lsn or 0) > reachable_lsn
    if beyond:
        if chain.gap is not None:
            raise TargetRefused(f"target {target.describe()} lies beyond WAL segment {chain.gap.name(size)}, which "
                                f"is missing from the archive; {_describe(window)}", window,
                                hint="recover to a moment before the gap, or put the segment back")
        if target.kind != "time":
            raise TargetRefused(f"target {target.describe()} is after the last archived WAL record "
                                f"({format_lsn(reachable_lsn)}); {_describe(window)}", window,
                                hint="pick an earlier LSN or restore point, or wait for newer WAL to be archived")
        raise TargetRefused(f"target {target.describe()} is not before the last archived commit; {_describe(window)}",
                            window, hint="recovery to a time stops at the first commit after it: pick an earlier "
                                         "moment, or wait for newer WAL to be archived (archive_timeout)")
    return RestorePlan(target, base, chosen_timeline, path, chain, archive_dir, size, target_lsn)
