"""Backup sets dated in the past, as the backups (ours and the manual's scripts) leave them on disk:
files named with old stamps, mtimes set to the stamp, metadata carrying the timestamp and the
verification status."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta
from pathlib import Path

from console.layout import TIMESTAMP_FORMAT, parse_stamp

NOW_STAMP = "20261125_030000"

_FILES = {
    "postgres": lambda name, ts: ([f"backup_{name}_{ts}.dump", f"backup_{name}_{ts}.sql.gz"], f"backup_{name}_{ts}.json"),
    "redis": lambda name, ts: ([f"snapshot_{ts}.rdb.gz", f"aof_{ts}.aof.gz"], f"snapshot_{ts}.json"),
    "rabbitmq": lambda name, ts: ([f"definitions_{ts}.json.gz", f"queues_{ts}.txt.gz"], f"backup_{ts}.json"),
    "config": lambda name, ts: ([f"config_{ts}.tar.gz"], f"manifest_{ts}.json"),
    "certs": lambda name, ts: ([f"certificates_{ts}.tar.gz.enc"], f"cert_inventory_{ts}.json"),
}


def now() -> datetime:
    return parse_stamp(NOW_STAMP)


def stamp_days_ago(days: float, hour: int = 2) -> str:
    moment = now().replace(hour=hour, minute=0, second=0) - timedelta(days=days)
    return moment.strftime(TIMESTAMP_FORMAT)


def make_set(backup_dir: Path, kind: str, stamp: str, name: str = "app", status: str | None = "pending",
             size: int = 1000, primary: bool = True, metadata: bool = True) -> list[Path]:
    """Write one set; ``primary=False`` leaves only the metadata (an incomplete legacy run)."""
    directory = backup_dir / kind
    directory.mkdir(parents=True, exist_ok=True)
    data_names, metadata_name = _FILES[kind](name, stamp)
    written = []
    if primary:
        for index, file_name in enumerate(data_names):
            path = directory / file_name
            path.write_bytes(b"x" * (size + index))
            written.append(path)
    if metadata:
        document = {"producer": "backup-console 0.1.0", "timestamp": parse_stamp(stamp).isoformat(),
                    "database": name, "verification_status": status}
        if status is None:
            document.pop("verification_status")
        path = directory / metadata_name
        path.write_text(json.dumps(document))
        written.append(path)
    epoch = time.mktime(parse_stamp(stamp).timetuple())
    for path in written:
        os.utime(path, (epoch, epoch))
    return written


def make_scenario(backup_dir: Path) -> None:
    """The golden scenario: daily sets of several ages, verified and not, plus odd files."""
    for days in range(1, 13):  # postgres app: verified only 10 days ago
        make_set(backup_dir, "postgres", stamp_days_ago(days), "app",
                 status="passed" if days == 10 else ("failed" if days == 2 else "pending"), size=100 * days)
    for days in (20, 21, 22, 30):  # postgres billing: old, never verified -> min_keep
        make_set(backup_dir, "postgres", stamp_days_ago(days), "billing", status="pending", size=50)
    for days in range(0, 9):  # redis: all verified
        make_set(backup_dir, "redis", stamp_days_ago(days, hour=2 if days else 1), status="passed", size=10)
    make_set(backup_dir, "redis", stamp_days_ago(10, hour=4), primary=False)  # metadata only: incomplete
    for days in (3, 15, 20, 40):  # config
        make_set(backup_dir, "config", stamp_days_ago(days), status=None, size=20)
    for days in (400, 800):  # certs: indefinite
        make_set(backup_dir, "certs", stamp_days_ago(days), status="passed", size=5)
    (backup_dir / "postgres" / "notes.txt").write_text("an operator's file")
    (backup_dir / "postgres" / "backup_app_20200101_000000.dump.partial").write_bytes(b"partial")


# --- point-in-time recovery: base backups and an archive as `backup --physical` and `wal push` leave them

SEG = 16 * 1024 * 1024


def segment_name(timeline: int, number: int) -> str:
    from console.pitr.walnames import Segment

    return Segment(timeline, number).name(SEG)


def make_base(backup_dir: Path, days: float, timeline: int, start_segment: int, status: str = "pending",
              system: str = "7300000000000000001") -> str:
    stamp = stamp_days_ago(days)
    directory = backup_dir / "postgres" / "base" / stamp
    directory.mkdir(parents=True)
    (directory / "base.tar.zst").write_bytes(b"t" * 5000)
    (directory / "backup_manifest").write_text("{}")
    start = f"0/{start_segment:X}000028"
    moment = now() - timedelta(days=days)
    (directory / "backup.json").write_text(json.dumps({
        "start_lsn": start, "stop_lsn": f"0/{start_segment:X}000100", "timeline": timeline,
        "start_wal_file": segment_name(timeline, start_segment), "start_time": moment.isoformat(),
        "stop_time": moment.isoformat(), "wal_segment_size": SEG, "system_identifier": system,
        "verification_status": status}))
    return stamp


def archive_file(archive: Path, name: str, days: float = 3.0, compressed: bool = True) -> None:
    stored = archive / (name + (".zst" if compressed else ""))
    stored.write_bytes(b"w" * 100)
    (archive / (name + ".sha256")).write_text(f"{'0' * 64}  {name}\n")
    epoch = now().timestamp() - days * 86400
    for path in (stored, archive / (name + ".sha256")):
        os.utime(path, (epoch, epoch))


def build_pitr_tree(backup_dir: Path, tmp_path: Path) -> dict:
    """Base backups A (10 d, TL1 from segment 3), B (5 d, TL1 from 8), C (1 d, TL2 from 12); an
    archive with TL1 1..10, TL2 9..14, a dead branch TL3 6, 7 and 9, history and backup-label files."""
    archive = tmp_path / "archive"
    archive.mkdir()
    a = make_base(backup_dir, 10, 1, 3)
    b = make_base(backup_dir, 5, 1, 8)
    c = make_base(backup_dir, 1, 2, 12)
    for number in range(1, 11):
        archive_file(archive, segment_name(1, number))
    for number in range(9, 15):
        archive_file(archive, segment_name(2, number))
    for number in (6, 7, 9):
        archive_file(archive, segment_name(3, number))
    archive_file(archive, f"{segment_name(1, 3)}.00000028.backup", compressed=False)
    archive_file(archive, f"{segment_name(1, 8)}.00000028.backup", compressed=False)
    archive_file(archive, "00000002.history", days=30, compressed=False)
    archive_file(archive, "00000003.history", days=30, compressed=False)
    (archive / f".{segment_name(1, 2)}.4242.tmp").write_bytes(b"a push under way")
    (archive / "README").write_text("not WAL")
    return {"archive": archive, "a": a, "b": b, "c": c}
