"""Named restore points: ``pg_create_restore_point`` on the server, recorded in
BACKUP_DIR/postgres/base/restore-points.jsonl so the TUI and ``restore --target-name`` know them."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import psycopg

from console.errors import ReadOnlyRefused, ServiceUnreachable, UsageError
from console.pitr.layout import RestorePoint, restore_points_path

if TYPE_CHECKING:
    from console.config import Settings


def create_restore_point(settings: Settings, name: str, switch: bool = False) -> RestorePoint:
    """Create and record a restore point; ``switch`` also closes the WAL segment so it is archived now."""
    from console.probes.postgres import connect, describe_error

    if settings.read_only:
        raise ReadOnlyRefused("wal mark")
    if not name.strip() or len(name) > 63:
        raise UsageError("a restore point name is 1 to 63 characters")
    pg = settings.postgres
    try:
        with connect(pg, settings.timeout_seconds) as conn:
            row = conn.execute("SELECT lsn::text, pg_walfile_name(lsn), now() FROM pg_create_restore_point(%s) lsn",
                               (name,)).fetchone()
            if switch:
                conn.execute("SELECT pg_switch_wal()")
    except psycopg.Error as exc:
        raise ServiceUnreachable(f"cannot create restore point {name!r}: {describe_error(exc, pg)[1]}") from None
    assert row is not None
    point = RestorePoint(name, row[0], row[2].isoformat(), int(row[1][:8], 16), row[1])
    path = restore_points_path(settings.root)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (json.dumps(point.as_json(), sort_keys=True) + "\n").encode())
    finally:
        os.close(fd)
    return point
