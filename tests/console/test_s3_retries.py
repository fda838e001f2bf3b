"""S3 uploads retry transient faults with backoff (s3.max_attempts): a real HTTP proxy in front of
moto's S3 server answers 503 SlowDown / ServiceUnavailable or stalls past the read timeout, and
the upload still lands byte for byte; with no attempts left the CLI fails with one line, exit 1,
and nothing in the bucket looks like a finished copy."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest

from console.catalog import BackupSet, read_metadata, scan
from console.cli import main
from console.offsite import upload as offsite
from console.runlog import read_runs
from tests.s3_fault_proxy import FaultProxy
from tests.verify_fixtures import our_backup


@pytest.fixture
def fault_proxy(s3_endpoint: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy(s3_endpoint)
    yield proxy
    proxy.close()


@pytest.fixture
def proxied_bucket(s3_bucket: dict[str, Any], fault_proxy: FaultProxy) -> dict[str, Any]:
    """Settings overrides for the fresh bucket, reached through the fault proxy."""
    return {**s3_bucket, "s3.endpoint_url": fault_proxy.endpoint}


def moto_client(s3_bucket: dict[str, Any]) -> Any:
    """Straight to moto, never through the proxy: what is really stored."""
    return boto3.client("s3", endpoint_url=str(s3_bucket["s3.endpoint_url"]), region_name="us-east-1")


def config_set(tmp_path: Path, make_settings: Any, *overrides: dict[str, Any], blob_bytes: int = 300_000,
               **values: Any) -> tuple[Any, BackupSet]:
    """A config backup set (tarball + manifest) made by the real backup module, of random (incompressible) data."""
    source = tmp_path / "app"
    source.mkdir()
    (source / "blob.bin").write_bytes(os.urandom(blob_bytes))
    (source / "app.yml").write_text("name: app\n")
    settings = make_settings(*overrides, **{"config_backup.source_dir": str(source), **values})
    return settings, our_backup(settings, "config")


def keys_of(settings: Any, backup_set: BackupSet) -> dict[str, str]:
    """role -> key, as the upload will name them."""
    return {item.role: key for item, key in offsite.plan_keys(settings, backup_set)}


def stored(s3_bucket: dict[str, Any], key: str) -> bytes:
    return moto_client(s3_bucket).get_object(Bucket=s3_bucket["s3.bucket"], Key=key)["Body"].read()


@pytest.mark.parametrize("code", ["SlowDown", "ServiceUnavailable"])
def test_put_answered_503_twice_is_retried_and_lands_byte_for_byte(
        code: str, tmp_path: Path, make_settings: Any, s3_bucket: dict[str, Any], proxied_bucket: dict[str, Any],
        fault_proxy: FaultProxy) -> None:
    settings, backup_set = config_set(tmp_path, make_settings, proxied_bucket, **{"s3.max_attempts": 3})
    keys = keys_of(settings, backup_set)
    tarball_key = keys["tarball"]
    rule = fault_proxy.fail("PUT", tarball_key, times=2, status=503, code=code)

    result = offsite.upload_set(settings, backup_set)

    assert rule.served == 2 and rule.seen == 3  # two 503s, then the third attempt went through to moto
    assert [status for method, target, status in fault_proxy.log
            if method == "PUT" and tarball_key in target] == [503, 503, 200]
    local = backup_set.file("tarball").path.read_bytes()
    assert stored(s3_bucket, tarball_key) == local  # the retried file body was re-sent from its start
    uploaded = next(item for item in result.objects if item.key == tarball_key)
    assert uploaded.sha256 == hashlib.sha256(local).hexdigest() and uploaded.size_bytes == len(local)
    remote_metadata = json.loads(stored(s3_bucket, keys["metadata"]))
    assert remote_metadata["s3_uploaded"] is True
    assert read_metadata(backup_set).document["s3_uploaded"] is True
    assert [r.status for r in read_runs(settings.backup_dir) if r.action == "upload"] == ["ok"]


def test_multipart_part_and_completion_answered_503_are_retried(
        tmp_path: Path, make_settings: Any, s3_bucket: dict[str, Any], proxied_bucket: dict[str, Any],
        fault_proxy: FaultProxy) -> None:
    settings, backup_set = config_set(tmp_path, make_settings, proxied_bucket, blob_bytes=12 * 1024 * 1024,
                                      **{"s3.multipart_threshold_mb": 5, "s3.part_size_mb": 5, "s3.max_attempts": 3})
    tarball_key = keys_of(settings, backup_set)["tarball"]
    part_two = fault_proxy.fail("PUT", tarball_key, times=1, code="SlowDown", query="partNumber=2")
    completion = fault_proxy.fail("POST", tarball_key, times=1, code="ServiceUnavailable", query="uploadId=")

    result = offsite.upload_set(settings, backup_set)

    assert part_two.served == 1 and part_two.seen == 2
    assert completion.served == 1 and completion.seen == 2
    uploaded = next(item for item in result.objects if item.key == tarball_key)
    assert uploaded.parts == 3
    assert stored(s3_bucket, tarball_key) == backup_set.file("tarball").path.read_bytes()
    assert moto_client(s3_bucket).list_multipart_uploads(Bucket=s3_bucket["s3.bucket"]).get("Uploads", []) == []


def test_a_request_that_times_out_is_retried(tmp_path: Path, make_settings: Any, s3_bucket: dict[str, Any],
                                             proxied_bucket: dict[str, Any], fault_proxy: FaultProxy) -> None:
    settings, backup_set = config_set(tmp_path, make_settings, proxied_bucket,
                                      **{"s3.max_attempts": 3, "s3.transfer_timeout_seconds": 1.0})
    tarball_key = keys_of(settings, backup_set)["tarball"]
    stall = fault_proxy.fail("PUT", tarball_key, times=1, stall_seconds=10.0)

    offsite.upload_set(settings, backup_set)

    assert stall.served == 1 and stall.seen == 2  # the stalled request got no answer; the retry did
    assert stored(s3_bucket, tarball_key) == backup_set.file("tarball").path.read_bytes()


# --- no attempts left: the CLI ------------------------------------------------------------------


def write_config(path: Path, backup_dir: Path, bucket: dict[str, Any], max_attempts: int) -> Path:
    path.write_text(f"backup_dir: {backup_dir}\n"
                    "s3:\n"
                    f"  bucket: {bucket['s3.bucket']}\n"
                    f"  endpoint_url: {bucket['s3.endpoint_url']}\n"
                    "  region: us-east-1\n"
                    f"  max_attempts: {max_attempts}\n"
                    "  transfer_timeout_seconds: 5\n")
    return path


@pytest.mark.parametrize(("max_attempts", "fault_times"), [(1, 1), (3, None)],
                         ids=["one-attempt-one-503", "three-attempts-always-503"])
def test_upload_cli_out_of_attempts_is_one_line_exit_1_and_nothing_complete_on_s3(
        max_attempts: int, fault_times: int | None, tmp_path: Path, make_settings: Any, backup_dir: Path,
        s3_bucket: dict[str, Any], proxied_bucket: dict[str, Any], fault_proxy: FaultProxy,
        capsys: pytest.CaptureFixture[str]) -> None:
    settings, backup_set = config_set(tmp_path, make_settings, proxied_bucket)
    keys = keys_of(settings, backup_set)
    rule = fault_proxy.fail("PUT", keys["tarball"], times=fault_times, code="SlowDown")
    config = write_config(tmp_path / "backup-console.yaml", backup_dir, proxied_bucket, max_attempts)
    capsys.readouterr()

    code = main(["--config", str(config), "upload", backup_set.set_id])

    out, err = capsys.readouterr()
    assert code == 1
    assert rule.served == max_attempts and rule.seen == max_attempts  # exactly the configured attempts, no more
    errors = [line for line in err.splitlines() if line.startswith("backup-console: error:")]
    assert len(errors) == 1, err
    tarball_name = backup_set.file("tarball").path.name
    assert errors[0] == (f"backup-console: error: upload of {tarball_name} failed: S3 error SlowDown for bucket "
                         f"'{s3_bucket['s3.bucket']}' at {fault_proxy.endpoint}")
    assert "Traceback" not in err and "uploaded" not in out

    client = moto_client(s3_bucket)
    bucket = s3_bucket["s3.bucket"]
    assert set_keys(client, bucket) == []  # no data object, no metadata.json
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert offsite.list_offsite(make_settings(s3_bucket)) == []
    document = read_metadata(scan(backup_dir, ["config"]).find(backup_set.set_id)).document
    assert document.get("s3_uploaded") in (False, None) and "s3" not in document
    runs = [r for r in read_runs(backup_dir) if r.action == "upload"]
    assert [r.status for r in runs] == ["failed"] and "SlowDown" in runs[0].message


def _answered(log: list[tuple[str, str, int]], key: str, part: int) -> int:
    """Position in the proxy's log where part ``part`` of ``key`` was accepted (200)."""
    return next(index for index, (method, target, status) in enumerate(log)
                if method == "PUT" and key in target and re.search(rf"partNumber={part}(&|$)", target) and status == 200)


def test_parts_upload_concurrently_and_complete_in_order(tmp_path: Path, make_settings: Any, s3_bucket: dict[str, Any],
                                                         proxied_bucket: dict[str, Any], fault_proxy: FaultProxy) -> None:
    settings, backup_set = config_set(tmp_path, make_settings, proxied_bucket, blob_bytes=22 * 1024 * 1024,
                                      **{"s3.multipart_threshold_mb": 5, "s3.part_size_mb": 5, "s3.max_attempts": 3,
                                         "s3.upload_concurrency": 3, "s3.transfer_timeout_seconds": 1.0})
    tarball_key = keys_of(settings, backup_set)["tarball"]
    slow_first = fault_proxy.fail("PUT", tarball_key, times=1, stall_seconds=3.0, query="partNumber=1")

    result = offsite.upload_set(settings, backup_set)

    assert slow_first.served == 1
    # while part 1 hung and was retried, later parts went up: they overlap, not queue behind it
    assert _answered(fault_proxy.log, tarball_key, 4) < _answered(fault_proxy.log, tarball_key, 1)
    uploaded = next(item for item in result.objects if item.key == tarball_key)
    assert uploaded.parts == 5
    local = backup_set.file("tarball").path.read_bytes()
    assert stored(s3_bucket, tarball_key) == local  # completed with the parts in their order
    head = moto_client(s3_bucket).head_object(Bucket=s3_bucket["s3.bucket"], Key=tarball_key, ChecksumMode="ENABLED")
    assert head["ContentLength"] == len(local)


def test_a_part_that_keeps_failing_aborts_the_whole_upload(tmp_path: Path, make_settings: Any,
                                                           s3_bucket: dict[str, Any], proxied_bucket: dict[str, Any],
                                                           fault_proxy: FaultProxy) -> None:
    from console.errors import ConsoleError

    settings, backup_set = config_set(tmp_path, make_settings, proxied_bucket, blob_bytes=22 * 1024 * 1024,
                                      **{"s3.multipart_threshold_mb": 5, "s3.part_size_mb": 5, "s3.max_attempts": 2,
                                         "s3.upload_concurrency": 3})
    tarball_key = keys_of(settings, backup_set)["tarball"]
    fault_proxy.fail("PUT", tarball_key, times=None, code="InternalError", status=500, query="partNumber=3")

    with pytest.raises(ConsoleError):
        offsite.upload_set(settings, backup_set)

    client = moto_client(s3_bucket)
    assert client.list_multipart_uploads(Bucket=s3_bucket["s3.bucket"]).get("Uploads", []) == []
    assert set_keys(client, s3_bucket["s3.bucket"]) == []


def set_keys(client, bucket: str) -> list[str]:
    """The bucket's keys but the fleet records (``_fleet/``, published by the backup that made the set)."""
    return [item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", [])
            if not item["Key"].startswith("_fleet/")]


def test_a_part_damaged_on_the_way_is_caught_and_no_copy_is_left(
        tmp_path: Path, make_settings: Any, s3_bucket: dict[str, Any], proxied_bucket: dict[str, Any],
        fault_proxy: FaultProxy) -> None:
    """The stored object differs from the file (a byte of part 2 flipped in transit): the upload fails.

    Real S3 refuses such a part (BadDigest: its SHA-256 was sent with it); moto stores it, and then
    the check of the stored copy must catch it: moto answers CompleteMultipartUpload without a
    checksum, so this is the ``head_object`` path, whose composite SHA-256 moto computes from the
    bytes it stored."""
    settings, backup_set = config_set(tmp_path, make_settings, proxied_bucket, blob_bytes=12 * 1024 * 1024,
                                      **{"s3.multipart_threshold_mb": 5, "s3.part_size_mb": 5})
    tarball_key = keys_of(settings, backup_set)["tarball"]
    damage = fault_proxy.fail("PUT", tarball_key, times=1, query="partNumber=2", corrupt=True)

    with pytest.raises(offsite.UploadFailed, match="on S3 does not match: .*different SHA-256"):
        offsite.upload_set(settings, backup_set)

    assert damage.served == 1
    client = moto_client(s3_bucket)
    assert set_keys(client, s3_bucket["s3.bucket"]) == []  # neither the damaged copy nor the metadata
    assert client.list_multipart_uploads(Bucket=s3_bucket["s3.bucket"]).get("Uploads", []) == []
    assert read_metadata(backup_set).document["s3_uploaded"] is False
    assert [r.status for r in read_runs(settings.backup_dir) if r.action == "upload"] == ["failed"]


def test_an_upload_that_cannot_be_created_fails_its_parts_cleanly(
        tmp_path: Path, make_settings: Any, s3_bucket: dict[str, Any], proxied_bucket: dict[str, Any],
        fault_proxy: FaultProxy) -> None:
    """The parts are hashed while CreateMultipartUpload is on its way; when it fails, so does every
    part waiting for it, and nothing is sent, stored or left to abort."""
    settings, backup_set = config_set(tmp_path, make_settings, proxied_bucket, blob_bytes=22 * 1024 * 1024,
                                      **{"s3.multipart_threshold_mb": 5, "s3.part_size_mb": 5, "s3.max_attempts": 2,
                                         "s3.upload_concurrency": 3})
    tarball_key = keys_of(settings, backup_set)["tarball"]
    refused = fault_proxy.fail("POST", tarball_key, times=None, code="InternalError", status=500, query="uploads")

    with pytest.raises(offsite.UploadFailed, match="upload of .* failed"):
        offsite.upload_set(settings, backup_set)

    assert refused.served == 2  # both attempts
    assert not [line for line in fault_proxy.log if "partNumber=" in line[1]]  # no part was sent
    client = moto_client(s3_bucket)
    assert client.list_multipart_uploads(Bucket=s3_bucket["s3.bucket"]).get("Uploads", []) == []
    assert set_keys(client, s3_bucket["s3.bucket"]) == []
    assert offsite.pending_aborts(settings) == []


def test_data_bodies_are_hashed_once_for_s3_by_their_checksum_not_again_for_the_signature(
        tmp_path: Path, make_settings: Any, s3_bucket: dict[str, Any], proxied_bucket: dict[str, Any],
        fault_proxy: FaultProxy) -> None:
    """Over plain HTTP botocore signs a SHA-256 of every body unless told not to: a pass over every
    byte on top of the checksum S3 checks the body against. Each part and object goes with its
    signed checksum header and an unsigned payload, as botocore sends them over HTTPS."""
    settings, backup_set = config_set(tmp_path, make_settings, proxied_bucket, blob_bytes=12 * 1024 * 1024,
                                      **{"s3.multipart_threshold_mb": 5, "s3.part_size_mb": 5})
    offsite.upload_set(settings, backup_set)
    puts = [(path, content, checksummed) for method, path, content, checksummed in fault_proxy.payload_hashes
            if method == "PUT" and "/_fleet/" not in path]  # the fleet record is not the set's
    assert len([path for path, _, _ in puts if "partNumber=" in path]) == 3
    assert len(puts) == 4, puts  # three parts and the metadata
    assert all(checksummed and content == "UNSIGNED-PAYLOAD" for _, content, checksummed in puts), puts

    fault_proxy.payload_hashes.clear()  # a server that refuses unsigned payloads: s3.sign_payloads
    (tmp_path / "signed").mkdir()
    signed, signed_set = config_set(tmp_path / "signed", make_settings, proxied_bucket, blob_bytes=12 * 1024 * 1024,
                                    **{"s3.multipart_threshold_mb": 5, "s3.part_size_mb": 5, "s3.sign_payloads": True,
                                       "backup_dir": str(tmp_path / "signed-backups")})
    offsite.upload_set(signed, signed_set)
    parts = [(path, content) for method, path, content, _ in fault_proxy.payload_hashes
             if method == "PUT" and "partNumber=" in path]
    assert len(parts) == 3 and all(re.fullmatch(r"[0-9a-f]{64}", content) for _, content in parts), parts


def test_parts_go_without_waiting_for_100_continue(tmp_path: Path, make_settings: Any, s3_bucket: dict[str, Any],
                                                   proxied_bucket: dict[str, Any], fault_proxy: FaultProxy) -> None:
    """A part's body follows its headers at once (one round trip less per part); a whole-file
    PutObject, the first request to reach the bucket with a body, still asks first."""
    settings, backup_set = config_set(tmp_path, make_settings, proxied_bucket, blob_bytes=12 * 1024 * 1024,
                                      **{"s3.multipart_threshold_mb": 5, "s3.part_size_mb": 5})
    offsite.upload_set(settings, backup_set)
    parts = [path for method, path, status in fault_proxy.log if method == "PUT" and "partNumber=" in path]
    assert len(parts) == 3 and not [path for path in fault_proxy.continued if "partNumber=" in path]

    (tmp_path / "small").mkdir()
    small, small_set = config_set(tmp_path / "small", make_settings, proxied_bucket, blob_bytes=100_000,
                                  **{"backup_dir": str(tmp_path / "small-backups")})
    offsite.upload_set(small, small_set)
    tarball_key = keys_of(small, small_set)["tarball"]
    assert [path for path in fault_proxy.continued if path.split("?")[0].endswith(tarball_key)]
