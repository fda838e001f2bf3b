"""Base backups that must not happen, and the tar reader that finds backup_label in the stream."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile

import pytest

from console.errors import BackupFailed
from console.kinds.postgres.client import find_tool
from console.pitr.basebackup import check_manifest
from console.pitr.tarstream import TarTap


def test_a_cluster_without_archiving_fails_preflight_leaves_nothing_and_is_logged(pg_cluster, make_settings,
                                                                                   backup_dir):
    from console.kinds.base import BackupRequest
    from console.runner import execute
    from console.runlog import read_runs

    result = execute(make_settings(pg_cluster.overrides()), BackupRequest("postgres", None,
                                                                          options={"physical": True}))
    assert result.status == "failed"
    assert "archive_mode = off" in result.message
    failed = {check.id for check in result.checks if check.status.value == "fail"}
    assert "pitr.archiving" in failed
    assert not (backup_dir / "postgres" / "base").exists() or not any((backup_dir / "postgres" / "base").iterdir())
    runs = read_runs(backup_dir)
    assert len(runs) == 1 and runs[0].status == "failed" and runs[0].kind == "postgres"


def test_physical_refuses_logical_options(make_settings, capsys):
    from console.cli import main

    assert main(["backup", "postgres", "--physical", "--db", "app"]) == 2
    assert "--physical backs up the whole cluster" in capsys.readouterr().err


def test_tar_tap_captures_small_members_across_any_chunking():
    buffer = io.BytesIO()
    members = {"base/1/1259": bytes(range(256)) * 100, "backup_label": b"START WAL LOCATION: 0/2000028\n",
               "a" * 120 + "/long-name": b"x" * 513, "backup_manifest": b'{"PostgreSQL-Backup-Manifest-Version": 1}'}
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    stream = buffer.getvalue()
    for chunk_size in (1, 7, 512, 4096, len(stream)):
        tap = TarTap({"backup_label", "backup_manifest"})
        for start in range(0, len(stream), chunk_size):
            tap.feed(stream[start:start + chunk_size])
        assert tap.captured == {"backup_label": members["backup_label"], "backup_manifest": members["backup_manifest"]}
        assert tap.members == len(members)
        assert tap.sizes == {name: len(data) for name, data in members.items()}


def test_the_manifest_is_checked_against_the_stream_it_came_in(pg_cluster):
    """A real pg_basebackup tar: the manifest's own checksum and every file's size, from the headers alone."""
    tool = find_tool("pg_basebackup")
    done = subprocess.run([tool.path, "-h", pg_cluster.host, "-p", str(pg_cluster.port), "-U", pg_cluster.user,
                           "-D", "-", "-Ft", "-X", "fetch", "-c", "fast"], capture_output=True, check=True)
    tap = TarTap({"backup_manifest"})
    tap.feed(done.stdout)
    manifest = tap.captured["backup_manifest"]
    assert check_manifest(manifest, tap.sizes) == len(json.loads(manifest)["Files"]) > 100

    listed = json.loads(manifest)["Files"][-1]["Path"]
    with pytest.raises(BackupFailed, match=f"lists {listed} .* missing from the tar stream"):
        check_manifest(manifest, {path: size for path, size in tap.sizes.items() if path != listed})
    with pytest.raises(BackupFailed, match=f"lists {listed} .* 1 bytes in the tar stream"):
        check_manifest(manifest, {**tap.sizes, listed: 1})
    edited = manifest.replace(b'"Size": ', b'"Size":  ', 1)  # same JSON, other bytes: the checksum no longer fits
    with pytest.raises(BackupFailed, match="own checksum does not match"):
        check_manifest(edited, tap.sizes)
    with pytest.raises(BackupFailed, match="not a PostgreSQL backup manifest"):
        check_manifest(b'{"PostgreSQL-Backup-Manifest-Version": 1}', tap.sizes)


def test_directories_left_by_a_killed_run_are_removed_but_complete_ones_kept(tmp_path):
    from console.pitr.basebackup import remove_abandoned

    killed, complete = tmp_path / "20261201_020000", tmp_path / "20261202_020000"
    killed.mkdir()
    (killed / "base.tar.zst.partial").write_bytes(b"half")
    complete.mkdir()
    (complete / "backup.json").write_text("{}")
    (tmp_path / "restore-points.jsonl").write_text("")
    assert remove_abandoned(tmp_path) == [killed]
    assert complete.is_dir() and (tmp_path / "restore-points.jsonl").is_file()
