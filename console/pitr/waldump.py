"""What a WAL segment says about time: the last commit (and restore point) records in it, read
with ``pg_waldump`` from a decompressed copy.

Results are remembered per segment (an archived segment never changes) in
BACKUP_DIR/.state/pitr-waldump.json, so ``wal status`` on a dashboard timer reads each segment
once.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from console.artifacts import write_json_atomic
from console.errors import ConsoleError
from console.pitr import archive
from console.pitr.walnames import parse_lsn
from console.root import BackupRoot

_RECORD = re.compile(r"lsn: ([0-9A-F]+/[0-9A-F]+),")
_COMMIT = re.compile(r"lsn: ([0-9A-F]+/[0-9A-F]+),.*desc: COMMIT(?:_PREPARED)? "
                     r"(?:\d+ )?(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) UTC")
CACHE = "pitr-waldump.json"


@dataclass(frozen=True)
class SegmentTimes:
    last_commit_time: str | None
    """ISO 8601, UTC, of the newest commit record in the segment."""
    last_commit_lsn: str | None
    last_record_lsn: str | None


def _parse(output: str) -> SegmentTimes:
    last_commit: tuple[str, str] | None = None
    last_lsn: str | None = None
    for line in output.splitlines():
        record = _RECORD.search(line)
        if record:
            last_lsn = record.group(1)
        commit = _COMMIT.search(line)
        if commit:
            when = datetime.fromisoformat(commit.group(2)).replace(tzinfo=timezone.utc)
            last_commit = (when.isoformat(), commit.group(1))
    return SegmentTimes(last_commit[0] if last_commit else None, last_commit[1] if last_commit else None, last_lsn)


def segment_times(archive_dir: Path, name: str, bin_dir: str = "", cache_dir: Path | None = None) -> SegmentTimes | None:
    """Run pg_waldump on one archived segment; None when pg_waldump is missing or the file is gone."""
    from console.kinds.postgres.client import find_tool

    cache = _load_cache(cache_dir)
    key = f"{archive_dir}/{name}"  # one cache for every instance's archive: the same names, other WAL
    if key in cache:
        return SegmentTimes(**cache[key])
    stored = archive.find(archive_dir, name)
    if stored is None:
        return None
    try:
        tool = find_tool("pg_waldump", bin_dir)
    except ConsoleError:
        return None
    with tempfile.TemporaryDirectory(prefix="bc-waldump-") as scratch:
        copy = Path(scratch) / name
        with open(copy, "wb") as handle:
            for chunk in archive.stored_bytes(stored):
                handle.write(chunk)
        env = {**os.environ, "TZ": "UTC", "LC_ALL": "C"}
        # pg_waldump stops with an error at the end of the last segment it was given; stdout is complete
        done = subprocess.run([tool.path, "--path", scratch, name], capture_output=True, text=True, env=env,
                              timeout=120)
    times = _parse(done.stdout)
    if times.last_record_lsn is not None:
        cache[key] = times.__dict__
        _save_cache(cache_dir, cache)
    return times


def _load_cache(cache_dir: Path | None) -> dict[str, dict[str, str | None]]:
    if cache_dir is None:
        return {}
    try:
        data = json.loads(BackupRoot(cache_dir).state_file(CACHE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_cache(cache_dir: Path | None, cache: dict[str, dict[str, str | None]]) -> None:
    if cache_dir is None:
        return

    if len(cache) > 2000:  # only the newest segments are ever asked again
        cache = dict(sorted(cache.items())[-1000:])
    try:
        BackupRoot(cache_dir).state_file(CACHE).parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(BackupRoot(cache_dir).state_file(CACHE), cache)
    except OSError:
        pass


def lsn_value(text: str | None) -> int | None:
    return parse_lsn(text) if text else None
