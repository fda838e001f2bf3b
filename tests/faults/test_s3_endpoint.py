"""The S3 endpoint dies in the middle of a multipart upload: a failed upload on record, one line,
the local set untouched, no complete object on S3, the S3 secret nowhere, and the next upload
(to a live endpoint) succeeds."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

import boto3

from tests.faults.conftest import ArgvWatcher, Console, canary_hits, count_fault, wait_for
from tests.s3_fault_proxy import FaultProxy


def _config(path: Path, source: Path, bucket: str, endpoint: str) -> Path:
    path.write_text(f"config_backup:\n  source_dir: {source}\n"
                    f"s3:\n  bucket: {bucket}\n  endpoint_url: {endpoint}\n  region: us-east-1\n"
                    "  multipart_threshold_mb: 5\n  part_size_mb: 5\n  upload_concurrency: 1\n"
                    "  max_attempts: 2\n  transfer_timeout_seconds: 3\n")
    return path


def test_s3_endpoint_killed_mid_multipart(base_env: dict[str, str], backup_dir: Path, tmp_path: Path,
                                          s3_endpoint: str) -> None:
    bucket = f"bc-fault-{uuid.uuid4().hex[:8]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    source = tmp_path / "app"
    source.mkdir()
    (source / "blob.bin").write_bytes(os.urandom(12 * 1024 * 1024))
    proxy = FaultProxy(s3_endpoint)
    through_proxy = _config(tmp_path / "proxy.yaml", source, bucket, proxy.endpoint)
    console = Console({**base_env, "BACKUP_CONSOLE_CONFIG": str(through_proxy)})
    made = console.run("backup", "config", "--json")
    assert made.code == 0, made.err
    set_id = json.loads(made.out)["set_id"]
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (backup_dir / "config").iterdir()}
    tarball = next(name for name in before if name.endswith(".tar.gz"))
    stall = proxy.fail("PUT", tarball, times=None, query="partNumber=2", stall_seconds=60)
    try:
        with ArgvWatcher() as watcher:
            running = console.spawn("upload", set_id)
            assert wait_for(lambda: stall.seen >= 1, timeout=60)
            proxy.close()  # the endpoint is gone: the stalled part and every retry fail
            count_fault()
            failed = console.finish(running, timeout=120)
    finally:
        proxy.close() if not proxy.closing.is_set() else None
    assert failed.code == 1, failed.err
    errors = [line for line in failed.err.splitlines() if "error:" in line]
    assert len(errors) == 1 and tarball in errors[0] and "Traceback" not in failed.err, failed.err
    runs = [json.loads(line) for line in (backup_dir / ".runs" / "runs.jsonl").read_text().splitlines()]
    assert runs[-1]["action"] == "upload" and runs[-1]["status"] == "failed"
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (backup_dir / "config").iterdir()}
    assert after == before, "the local set changed"
    keys = [item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert [key for key in keys if not key.startswith("_fleet/")] == [], "a partial upload looks complete"
    assert watcher.hits == []

    direct = _config(tmp_path / "direct.yaml", source, bucket, s3_endpoint)
    again = console.run("upload", set_id, env={"BACKUP_CONSOLE_CONFIG": str(direct)})
    assert again.code == 0, again.err
    assert canary_hits(backup_dir, tmp_path / "tmp", *console.outputs) == []
