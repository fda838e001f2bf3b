"""PITR fixtures: a backup-console the postgres user can run, and one archiving cluster per module."""

from __future__ import annotations

import io
import json
import os
import pwd
import shutil
import subprocess
import tarfile
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Iterator

import lz4.frame
import pytest
import zstandard

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


def cancel_a_base_backup(state: ArchivedCluster) -> None:
    """A base backup whose token is cancelled before it starts: pg_basebackup is stopped at its first
    chunk, the run says cancelled, and no set directory is left under the base backups."""
    from console.kinds.base import BackupRequest
    from console.pitr.layout import base_root
    from console.progress import CancelToken
    from console.runner import execute

    before = sorted(p.name for p in base_root(state.backup_dir).iterdir())
    token = CancelToken()
    token.cancel()
    result = execute(state.settings(), BackupRequest("postgres", None, options={"physical": True}), cancel=token)
    assert result.status == "cancelled"
    assert sorted(p.name for p in base_root(state.backup_dir).iterdir()) == before


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


def copy_with_a_changed_data_file(base: Any, backup_dir: Path) -> str:
    """A copy of ``base`` under ``backup_dir`` whose tar has one byte changed inside a data file,
    compressed again as the original was and with a matching sha256 in its metadata: only the
    manifest's per-file checksums (pg_verifybackup) can tell. Returns the changed member's name."""
    from console.artifacts import sha256_file

    directory = backup_dir / "postgres" / "base" / base.stamp
    directory.mkdir(parents=True)
    shutil.copy(base.manifest_path, directory / "backup_manifest")
    changed = None
    with _compressed(base.tar_path, "rb") as reader, tarfile.open(fileobj=reader, mode="r|") as source, \
            _compressed(directory / base.tar_path.name, "wb") as writer, \
            tarfile.open(fileobj=writer, mode="w|") as target:
        for member in source:
            data = source.extractfile(member).read() if member.isfile() else None  # type: ignore[union-attr]
            if data and changed is None and member.name.startswith("base/") and member.size > 8192:
                data = data[:4000] + bytes([data[4000] ^ 0xFF]) + data[4001:]
                changed = member.name
            target.addfile(member, io.BytesIO(data) if data is not None else None)
    assert changed is not None, "no data file over 8 kB in the base backup"
    metadata = dict(base.metadata)
    metadata["artifacts"] = [dict(a, sha256=sha256_file(directory / a["name"])) for a in base.metadata["artifacts"]]
    (directory / "backup.json").write_text(json.dumps(metadata))
    return changed


@contextmanager
def _compressed(path: Path, mode: str) -> Iterator[IO[bytes]]:
    """``path`` (``.tar.lz4`` or ``.tar.zst``) opened through its compression, to read or write."""
    if path.name.endswith(".lz4"):
        with lz4.frame.open(path, mode) as stream:
            yield stream
        return
    with open(path, mode) as raw:
        codec = zstandard.ZstdDecompressor().stream_reader(raw) if "r" in mode else \
            zstandard.ZstdCompressor().stream_writer(raw)
        with codec as stream:
            yield stream
