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
