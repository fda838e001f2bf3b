"""Artefact sets are all-or-nothing, and one lock per target keeps runs from overlapping."""

from __future__ import annotations

import gzip
import hashlib
import multiprocessing
import os
import subprocess

import pytest

from console.artifacts import ArtifactSet, sha256_file, write_json_atomic
from console.errors import BackupFailed, LockHeld
from console.lock import BackupLock, held_locks


def test_set_commits_all_files_with_their_sha256(tmp_path):
    with ArtifactSet(tmp_path / "kind") as files:
        with files.create("data.bin.gz", compression="gzip") as out:
            out.write(b"hello " * 1000)
        files.write_json("meta.json", {"a": 1})
    data = tmp_path / "kind" / "data.bin.gz"
    assert gzip.decompress(data.read_bytes()) == b"hello " * 1000
    assert files.infos[0].sha256 == hashlib.sha256(data.read_bytes()).hexdigest() == sha256_file(data)
    assert files.infos[0].raw_bytes == 6000
    assert oct(data.stat().st_mode & 0o777) == "0o600"
    assert sorted(p.name for p in (tmp_path / "kind").iterdir()) == ["data.bin.gz", "meta.json"]


def test_failure_leaves_nothing_behind(tmp_path):
    with pytest.raises(RuntimeError):
        with ArtifactSet(tmp_path / "kind") as files:
            with files.create("a.bin") as out:
                out.write(b"complete")
            with files.create("b.bin") as out:
                out.write(b"half")
                raise RuntimeError("pg_dump died")
    assert list((tmp_path / "kind").iterdir()) == []


def test_refuses_to_overwrite_an_existing_backup(tmp_path):
    (tmp_path / "kind").mkdir()
    (tmp_path / "kind" / "a.bin").write_bytes(b"old")
    with pytest.raises(BackupFailed, match="already exists"):
        with ArtifactSet(tmp_path / "kind") as files:
            files.create("a.bin")
    assert (tmp_path / "kind" / "a.bin").read_bytes() == b"old"


def test_full_disk_is_a_clean_failure(tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(small)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        with pytest.raises(BackupFailed, match="no space left writing big.bin"):
            with ArtifactSet(small / "kind") as files:
                with files.create("big.bin") as out:
                    for _ in range(64):
                        out.write(os.urandom(16384))
        assert list((small / "kind").iterdir()) == []
    finally:
        subprocess.run(["umount", str(small)], capture_output=True)


def test_write_json_atomic_replaces_whole_file(tmp_path):
    target = tmp_path / "sets" / "m.json"
    write_json_atomic(target, {"v": 1})
    write_json_atomic(target, {"v": 2})
    assert target.read_text().strip().startswith("{") and '"v": 2' in target.read_text()
    assert [p.name for p in target.parent.iterdir()] == ["m.json"]


def _hold_lock(backup_dir, ready, release):
    with BackupLock(backup_dir, "postgres-db", "postgres backup db"):
        ready.set()
        release.wait(10)


def test_second_run_is_refused_while_first_holds_the_lock(tmp_path):
    ready, release = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold_lock, args=(tmp_path, ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        with pytest.raises(LockHeld, match=rf"postgres backup db is already running \(pid {holder.pid}"):
            BackupLock(tmp_path, "postgres-db").acquire()
        assert [lock.pid for lock in held_locks(tmp_path)] == [holder.pid]
    finally:
        release.set()
        holder.join(10)
    assert held_locks(tmp_path) == []


def test_lock_of_a_killed_process_is_recognised_as_stale(tmp_path):
    ready, release = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold_lock, args=(tmp_path, ready, release))
    holder.start()
    assert ready.wait(10)
    holder.kill()
    holder.join(10)
    lock = BackupLock(tmp_path, "postgres-db").acquire()
    try:
        assert lock.stale is not None and lock.stale.pid == holder.pid
    finally:
        lock.release()
    assert BackupLock(tmp_path, "postgres-db").acquire().stale is None
