"""PITR fixtures: a backup-console the postgres user can run, and one archiving cluster per module."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
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


@contextmanager
def archiving_cluster(wal_launcher: Path, name: str, config_extra: str = "") -> Iterator[ArchivedCluster]:
    """A private cluster whose archive_command is ``wal push`` (run as postgres) into its own archive,
    and a config file for it (``config_extra`` appended); all of it removed afterwards."""
    archive = postgres_owned_dir(f"bc-{name}-archive-")
    work = postgres_owned_dir(f"bc-{name}-work-")  # restored copies live here: postgres must reach them
    backup_dir = work / "backups"
    command = f"{wal_launcher} wal push --archive-dir {archive} %p %f"
    cluster = PgCluster({"wal_level": "replica", "archive_mode": "on", "archive_command": f"'{command}'",
                         "max_wal_senders": "4"})
    try:
        cluster.init().start()
        text = (f"backup_dir: {backup_dir}\ntimeout_seconds: 5\npostgres:\n  host: {cluster.host}\n"
                f"  port: {cluster.port}\n  user: {cluster.user}\n  wal_archive_dir: {archive}\n{config_extra}")
        config = work / "config.yaml"
        config.write_text(text)
        yield ArchivedCluster(cluster, archive, backup_dir, config, wal_launcher, work, extra={"config": text})
    finally:
        cluster.destroy()
        shutil.rmtree(archive, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def half_tar_copy(state: ArchivedCluster, base: Any, tar_name: str, tmp_path: Path) -> Path:
    """A copy of ``base`` under a BACKUP_DIR of its own whose tar is cut in half, and returns a
    config file pointing at that copy."""
    copy_dir = tmp_path / "backups"
    shutil.copytree(base.directory, copy_dir / "postgres" / "base" / base.stamp)
    tar = copy_dir / "postgres" / "base" / base.stamp / tar_name
    tar.write_bytes(tar.read_bytes()[: tar.stat().st_size // 2])
    config = tmp_path / "config.yaml"
    config.write_text(state.config.read_text().replace(str(state.backup_dir), str(copy_dir)))
    return config
