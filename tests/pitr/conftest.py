"""PITR fixtures: a backup-console the postgres user can run, and one archiving cluster per module."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.pitr.walbin import build_launcher
from tests.servers import PgCluster, require_binary


@pytest.fixture(scope="session")
def wal_launcher() -> Iterator[Path]:
    launcher = build_launcher()
    yield launcher
    shutil.rmtree(launcher.parent, ignore_errors=True)


def postgres_owned_dir(prefix: str) -> Path:
    """A directory the postgres OS user can write (the tests run as root)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(path, 0o755)
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


@dataclass
class ArchivedCluster:
    cluster: PgCluster
    archive: Path
    backup_dir: Path
    config: Path
    launcher: Path
    work: Path
    commits: list[tuple[int, datetime, datetime]] = field(default_factory=list)
    """(row id, clock just before its INSERT, clock just after its commit)."""
    base_stop: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def settings(self):  # noqa: ANN201
        from console.config import load_settings

        return load_settings(str(self.config), env={}, overrides={})

    def wait_archived(self, timeout: float = 30.0) -> str:
        """Switch WAL and wait until the archiver stored the segment it closed."""
        with self.cluster.connect() as conn:
            closed = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()[0]
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                last = conn.execute("SELECT last_archived_wal FROM pg_stat_archiver").fetchone()[0]
                if last is not None and last >= closed and not last.endswith(".backup"):
                    return closed
                time.sleep(0.1)
        raise AssertionError(f"{closed} was not archived in {timeout} s")


def stop_restored(data_dir: Path) -> None:
    pg_ctl = require_binary("pg_ctl")
    argv = [pg_ctl, "-D", str(data_dir), "-m", "immediate", "-w", "stop"]
    subprocess.run(["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv, capture_output=True)
