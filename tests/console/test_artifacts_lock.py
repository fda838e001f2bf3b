"""Artefact sets are all-or-nothing, and one lock per target keeps runs from overlapping."""

from __future__ import annotations

import gzip
import hashlib
import multiprocessing
import os
import random
import subprocess

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from console.artifacts import ZSTD_FRAME_BYTES, ArtifactSet, sha256_file, write_json_atomic
from console.compressed import decompress_chunks
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


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 3 * ZSTD_FRAME_BYTES), max_size=5), st.integers(0, 2**32))
def test_a_zstd_artefact_reads_back_as_written_however_the_writes_were_cut(tmp_path_factory, sizes, seed):
    source = random.Random(seed)
    writes = [source.randbytes(size // 2) + b"row\n" * (size // 8) for size in sizes]  # half noise, half repeats
    directory = tmp_path_factory.mktemp("frames")
    with ArtifactSet(directory / "kind") as files, files.create("data.dump.zst", compression="zstd", level=1) as out:
        for chunk in writes:
            out.write(chunk)
    stored = (directory / "kind" / "data.dump.zst").read_bytes()
    assert b"".join(decompress_chunks([stored], "zstd", "data.dump.zst")) == b"".join(writes)
    sizes_of_frames, rest = [], stored
    while rest:
        decoder = zstandard.ZstdDecompressor().decompressobj()
        sizes_of_frames.append(len(decoder.decompress(rest)))
        rest = decoder.unused_data
    assert all(size == ZSTD_FRAME_BYTES for size in sizes_of_frames[:-1])  # however the writes came
    assert 0 < sizes_of_frames[-1] <= ZSTD_FRAME_BYTES or sizes_of_frames == [0]
    assert files.infos[0].sha256 == hashlib.sha256(stored).hexdigest()


def test_a_big_zstd_artefact_is_frames_that_zstd_itself_reads_and_checks(tmp_path):
    """Each chunk the pipeline writes is a frame of its own; zstd reads them as one stream, and a
    changed byte in any frame fails its checksum."""
    source = random.Random(7)
    data = b"".join(source.randbytes(1000) + b"COPY row\n" * 100 for _ in range(1000))  # 1.9 MB, a third noise
    with ArtifactSet(tmp_path / "kind") as files, files.create("big.dump.zst", compression="zstd", level=1) as out:
        for at in range(0, len(data), ZSTD_FRAME_BYTES):
            out.write(data[at:at + ZSTD_FRAME_BYTES])
    path = tmp_path / "kind" / "big.dump.zst"
    stored = path.read_bytes()
    frames, rest = 0, stored
    while rest:
        decoder = zstandard.ZstdDecompressor().decompressobj()
        decoder.decompress(rest)
        assert decoder.eof
        frames, rest = frames + 1, decoder.unused_data
    assert frames == -(-len(data) // ZSTD_FRAME_BYTES)
    assert subprocess.run(["zstd", "-dc", str(path)], capture_output=True, check=True).stdout == data
    assert len(stored) < len(data) * 0.6  # the noise stays, the repeats go
    damaged = bytearray(stored)
    damaged[len(damaged) * 3 // 4] ^= 0x01  # in the third frame's noise: its checksum must tell
    path.write_bytes(bytes(damaged))
    assert subprocess.run(["zstd", "-t", str(path)], capture_output=True).returncode != 0


def test_an_empty_zstd_artefact_is_a_valid_empty_stream(tmp_path):
    with ArtifactSet(tmp_path / "kind") as files, files.create("empty.zst", compression="zstd", level=1):
        pass
    path = tmp_path / "kind" / "empty.zst"
    assert path.stat().st_size > 0
    assert subprocess.run(["zstd", "-dc", str(path)], capture_output=True, check=True).stdout == b""
