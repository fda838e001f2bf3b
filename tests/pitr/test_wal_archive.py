"""``wal push`` / ``wal get`` on a real directory: atomic, checksummed, idempotent, and loud about
damage; and the per-segment start stays free of the console's heavy imports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.cli import main

SEGMENT = "000000010000000000000003"


@pytest.fixture
def segment(tmp_path: Path) -> Path:
    path = tmp_path / "pg_wal" / SEGMENT
    path.parent.mkdir()
    path.write_bytes(os.urandom(1 << 20) + bytes(15 << 20))  # 16 MiB, partly compressible like real WAL
    return path


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    path = tmp_path / "archive"
    path.mkdir()
    return path


@pytest.mark.parametrize("compress", ["zstd", "none"])
def test_push_then_get_round_trips_and_records_the_checksum(segment, archive, tmp_path, compress):
    import hashlib

    assert main(["wal", "push", "--archive-dir", str(archive), "--compress", compress, str(segment)]) == 0
    stored = archive / (SEGMENT + (".zst" if compress == "zstd" else ""))
    assert stored.is_file() and not list(archive.glob(".*.tmp"))
    recorded = (archive / f"{SEGMENT}.sha256").read_text().split()
    assert recorded == [hashlib.sha256(segment.read_bytes()).hexdigest(), SEGMENT]
    if compress == "zstd":
        assert stored.stat().st_size < segment.stat().st_size // 4
    out = tmp_path / "RECOVERYXLOG"
    assert main(["wal", "get", "--archive-dir", str(archive), SEGMENT, str(out)]) == 0
    assert out.read_bytes() == segment.read_bytes()


def test_a_repeated_push_succeeds_when_identical_and_is_refused_when_different(segment, archive, capsys):
    assert main(["wal", "push", "--archive-dir", str(archive), str(segment)]) == 0
    assert main(["wal", "push", "--archive-dir", str(archive), str(segment)]) == 0  # PostgreSQL retries
    before = (archive / f"{SEGMENT}.zst").read_bytes()
    segment.write_bytes(b"\x01" + segment.read_bytes()[1:])
    assert main(["wal", "push", "--archive-dir", str(archive), str(segment)]) == 1
    err = capsys.readouterr().err
    assert "already archived" in err and "different content" in err and "Traceback" not in err
    assert (archive / f"{SEGMENT}.zst").read_bytes() == before


def test_get_exits_1_when_missing_and_126_when_damaged(segment, archive, tmp_path, capsys):
    out = tmp_path / "RECOVERYXLOG"
    assert main(["wal", "get", "--archive-dir", str(archive), SEGMENT, str(out)]) == 1
    assert not out.exists()
    assert main(["wal", "push", "--archive-dir", str(archive), "--compress", "none", str(segment)]) == 0
    stored = archive / SEGMENT
    data = bytearray(stored.read_bytes())
    data[1000] ^= 0xFF
    stored.write_bytes(bytes(data))
    assert main(["wal", "get", "--archive-dir", str(archive), SEGMENT, str(out)]) == 126
    assert "does not match its recorded sha256" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob("RECOVERYXLOG*"))


def test_a_truncated_compressed_segment_is_damage_not_the_end_of_wal(segment, archive, tmp_path):
    assert main(["wal", "push", "--archive-dir", str(archive), str(segment)]) == 0
    stored = archive / f"{SEGMENT}.zst"
    stored.write_bytes(stored.read_bytes()[:-100])
    assert main(["wal", "get", "--archive-dir", str(archive), SEGMENT, str(tmp_path / "x")]) == 126


def test_bad_input_is_one_line_and_exit_2(segment, archive, tmp_path, capsys):
    assert main(["wal", "push", "--archive-dir", str(archive), str(segment), "not-a-wal-name"]) == 2
    assert main(["wal", "push", "--archive-dir", str(tmp_path / "nope"), str(segment)]) == 2
    assert main(["wal", "push", "--archive-dir", str(archive), str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 3 and "Traceback" not in err


def test_wal_push_imports_nothing_heavy(segment, archive):
    """archive_command starts a process per segment: no Textual, rich, psycopg, boto3 or yaml."""
    root = Path(__file__).resolve().parents[2]
    code = ("import sys; from console.cli import main; rc = main(['wal', 'push', '--archive-dir', sys.argv[1], "
            "sys.argv[2]]); heavy = sorted({m.split('.')[0] for m in sys.modules} & "
            "{'textual', 'rich', 'psycopg', 'boto3', 'botocore', 'yaml', 'cryptography'}); print(rc, heavy)")
    done = subprocess.run([sys.executable, "-c", code, str(archive), str(segment)], capture_output=True, text=True,
                          cwd=root, check=True)
    assert done.stdout.strip() == "0 []"


def test_push_with_s3_copies_the_file_and_its_checksum(segment, archive, tmp_path, s3_bucket):
    import boto3

    config = tmp_path / "config.yaml"
    config.write_text(f"s3:\n  bucket: {s3_bucket['s3.bucket']}\n  endpoint_url: {s3_bucket['s3.endpoint_url']}\n"
                      f"  region: us-east-1\n  prefix: prod\n  storage_class: STANDARD\n")
    assert main(["wal", "push", "--archive-dir", str(archive), "--s3", "--config", str(config), str(segment)]) == 0
    client = boto3.client("s3", endpoint_url=s3_bucket["s3.endpoint_url"], region_name="us-east-1")
    body = client.get_object(Bucket=s3_bucket["s3.bucket"], Key=f"prod/postgres/wal/{SEGMENT}.zst")["Body"].read()
    assert body == (archive / f"{SEGMENT}.zst").read_bytes()
    listed = client.list_objects_v2(Bucket=s3_bucket["s3.bucket"], Prefix="prod/postgres/wal/")["Contents"]
    assert sorted(item["Key"] for item in listed) == [f"prod/postgres/wal/{SEGMENT}.sha256",
                                                      f"prod/postgres/wal/{SEGMENT}.zst"]


def test_push_with_s3_fails_when_no_bucket_is_configured(segment, archive, tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text("timeout_seconds: 2\n")
    assert main(["wal", "push", "--archive-dir", str(archive), "--s3", "--config", str(config), str(segment)]) == 1
    assert "no S3 bucket configured" in capsys.readouterr().err
    assert (archive / f"{SEGMENT}.zst").is_file()  # the local archive keeps it; PostgreSQL's retry is idempotent
