"""Local backup storage probe: BACKUP_DIR exists, is writable, and how full its disk is."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from console.catalog import KINDS
from console.formatting import size
from console.probes.result import ProbeResult, ServiceState, Stopwatch
from console.root import BackupRoot

if TYPE_CHECKING:
    from console.config import Settings

LOW_SPACE_PCT = 10.0


def nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def is_writable(directory: Path) -> tuple[bool, str]:
    """Try to create a file: os.access says yes to root even on a read-only mount."""
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-test-"):
            pass
    except OSError as exc:
        return False, exc.strerror or str(exc)
    return True, ""


def used_by_kind(backup_dir: Path) -> dict[str, int]:
    usage: dict[str, int] = {}
    for kind in KINDS:
        total = 0
        for root, _dirs, files in os.walk(BackupRoot(backup_dir).kind_dir(kind)):
            for name in files:
                try:
                    total += os.lstat(os.path.join(root, name)).st_size
                except OSError:
                    continue
        usage[kind] = total
    return usage


def probe(settings: Settings) -> ProbeResult:
    backup_dir = settings.backup_dir
    watch = Stopwatch()
    existing = nearest_existing(backup_dir)
    writable, why = is_writable(existing)
    disk = shutil.disk_usage(existing)
    usage = used_by_kind(backup_dir) if backup_dir.is_dir() else {}
    free_pct = 100.0 * disk.free / disk.total if disk.total else 0.0
    metrics = {
        "path": str(backup_dir),
        "exists": backup_dir.is_dir(),
        "writable": writable,
        "free_bytes": disk.free,
        "total_bytes": disk.total,
        "free_pct": round(free_pct, 1),
        "backups_bytes": sum(usage.values()),
        **{f"{kind}_bytes": size for kind, size in usage.items()},
    }
    if not writable:
        return ProbeResult("storage", "local", ServiceState.DOWN, f"{existing} is not writable ({why})", watch.ms, metrics)
    if free_pct < LOW_SPACE_PCT:
        return ProbeResult("storage", "local", ServiceState.DEGRADED,
                           f"only {free_pct:.0f} % free on the disk of {backup_dir}", watch.ms, metrics)

    if not backup_dir.is_dir():
        detail = f"{backup_dir} not created yet (the first backup creates it); {size(disk.free)} free"
    else:
        detail = f"{size(disk.free)} free ({free_pct:.0f} %), backups use {size(metrics['backups_bytes'])}"
    return ProbeResult("storage", "local", ServiceState.UP, detail, watch.ms, metrics)
