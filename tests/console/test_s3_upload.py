"""Offsite copies against moto's real S3 HTTP server: layout, class, SSE, metadata, checksums,
multipart with progress, endpoint failures with nothing left behind, and verify's S3 check."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from console.catalog import read_metadata, scan
from console.layout import TIMESTAMP_FORMAT
from console.offsite import upload as offsite
from console.progress import ProgressEvent
from console.runlog import read_runs
from tests.servers import free_port
from tests.verify_fixtures import fill_database, legacy_redis, our_backup


def s3_client(overrides: dict[str, Any]) -> Any:
    return boto3.client("s3", endpoint_url=str(overrides["s3.endpoint_url"]), region_name="us-east-1")


@pytest.fixture
def redis_set(redis_server: Any, make_settings: Any, s3_bucket: dict[str, Any]) -> tuple[Any, Any]:
    redis_server.client().mset({f"key:{n}": f"value {n}" for n in range(50)})
    settings = make_settings(redis_server.overrides(), s3_bucket)
    return settings, our_backup(settings, "redis")


def test_upload_postgres_set_layout_class_sse_metadata_and_checksum(pg_cluster: Any, pg_database: str,
                                                                    make_settings: Any, s3_bucket: dict[str, Any]) -> None:
    fill_database(pg_cluster, pg_database, rows=200)
    settings = make_settings(pg_cluster.overrides(pg_database), s3_bucket, **{"s3.prefix": "prod/"})
    backup_set = our_backup(settings, "postgres", pg_database)
    stamp = backup_set.stamp

    result = offsite.upload_set(settings, backup_set)

    client = s3_client(s3_bucket)
    bucket = s3_bucket["s3.bucket"]
    expected = {}
    for item in backup_set.files:
        suffix = item.path.name.split(f"_{item.timestamp.strftime(TIMESTAMP_FORMAT)}", 1)[1]
        expected[item.path.name] = f"prod/postgres/{stamp}/" + ("metadata.json" if item.role == "metadata"
                                                                 else "backup" + suffix)
    assert {obj.file: obj.key for obj in result.objects} == expected
    assert any(key.endswith("/backup.sql.gz") for key in expected.values())
    for item in backup_set.files:
        if item.role == "metadata":
            continue
        key = expected[item.path.name]
        head = client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        digest = hashlib.sha256(item.path.read_bytes()).digest()
        assert head["StorageClass"] == "STANDARD_IA"
        assert head["ServerSideEncryption"] == "AES256"
        assert head["Metadata"]["backup-type"] == "postgresql"
        assert head["Metadata"]["database"] == pg_database
        assert head["Metadata"]["timestamp"] == stamp
        assert head["Metadata"]["sha256"] == digest.hex()
        assert head["ChecksumSHA256"] == base64.b64encode(digest).decode()
        assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == item.path.read_bytes()

    document = read_metadata(scan(settings.backup_dir, ["postgres"]).find(backup_set.set_id)).document
    assert document["s3_uploaded"] is True and document["s3_bucket"] == bucket
    assert sorted(document["s3"]["keys"]) == sorted(expected.values())
    assert document["s3"]["storage_class"] == "STANDARD_IA" and document["s3"]["sse"] == "AES256"
    assert document["s3"]["uploaded_at"]
    remote_metadata = json.loads(client.get_object(Bucket=bucket, Key=f"prod/postgres/{stamp}/metadata.json")["Body"].read())
    assert remote_metadata["s3_uploaded"] is True
    assert [r.status for r in read_runs(settings.backup_dir) if r.action == "upload"] == ["ok"]


def test_second_database_gets_its_own_key_directory(make_settings: Any, pg_cluster: Any) -> None:
    from console.catalog import BackupFile, BackupSet
    from console.layout import parse_stamp

    settings = make_settings(pg_cluster.overrides("app"), **{"postgres.databases": ["app", "billing"]})
    when = parse_stamp("20261125_020000")
    backup_set = BackupSet("postgres", "billing", when, (BackupFile(Path("backup_billing_20261125_020000.dump.zst"), "dump", when),))
    assert offsite.plan_keys(settings, backup_set)[0][1] == "postgres/billing/20261125_020000/backup.dump.zst"
    alone = make_settings(pg_cluster.overrides("billing"))
    assert offsite.plan_keys(alone, backup_set)[0][1] == "postgres/20261125_020000/backup.dump.zst"


def test_storage_class_and_kms_as_configured(redis_server: Any, make_settings: Any, s3_bucket: dict[str, Any]) -> None:
    redis_server.client().set("k", "v")
    settings = make_settings(redis_server.overrides(), s3_bucket, **{
        "s3.storage_class": "STANDARD", "s3.sse": "aws:kms", "s3.kms_key_id": "alias/backups"})
    backup_set = our_backup(settings, "redis")
    result = offsite.upload_set(settings, backup_set)
    rdb_key = next(obj.key for obj in result.objects if obj.file.startswith("snapshot_") and obj.file.endswith(".rdb.gz"))
    assert rdb_key == f"redis/{backup_set.stamp}/snapshot.rdb.gz"
    assert sorted(obj.key.rsplit("/", 1)[1] for obj in result.objects) == ["aof.tar.gz", "metadata.json",
                                                                            "snapshot.rdb.gz"]
    head = s3_client(s3_bucket).head_object(Bucket=s3_bucket["s3.bucket"], Key=rdb_key)
    assert head.get("StorageClass", "STANDARD") == "STANDARD"
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["Metadata"]["backup-type"] == "redis"


def _big_config_set(tmp_path: Path, make_settings: Any, overrides: dict[str, Any], **more: Any) -> tuple[Any, Any]:
    import os

    source = tmp_path / "app"
    source.mkdir()
    (source / "blob.bin").write_bytes(os.urandom(12 * 1024 * 1024))
    (source / "app.yml").write_text("name: app\n")
    settings = make_settings(overrides, **{"config_backup.source_dir": str(source), "s3.multipart_threshold_mb": 5,
                                           "s3.part_size_mb": 5, **more})
    return settings, our_backup(settings, "config")


def test_big_file_goes_multipart_with_progress(tmp_path: Path, make_settings: Any, s3_bucket: dict[str, Any]) -> None:
    settings, backup_set = _big_config_set(tmp_path, make_settings, s3_bucket)
    events: list[ProgressEvent] = []

    result = offsite.upload_set(settings, backup_set, on_progress=events.append)

    tarball = next(obj for obj in result.objects if obj.file.endswith(".tar.gz"))
    assert tarball.parts == 3 and tarball.size_bytes > 10 * 1024 * 1024
    upload_events = [ev for ev in events if ev.phase == f"upload {tarball.file}"]
    per_part = [ev.done for ev in upload_events if not ev.finished][1:]  # parts finish in any order
    assert len(per_part) == 3 and per_part == sorted(set(per_part)) and per_part[-1] == tarball.size_bytes
    assert upload_events[-1].finished and upload_events[-1].total == tarball.size_bytes
    client = s3_client(s3_bucket)
    bucket = s3_bucket["s3.bucket"]
    head = client.head_object(Bucket=bucket, Key=tarball.key, ChecksumMode="ENABLED")
    assert head["ContentLength"] == tarball.size_bytes
    assert head["ChecksumSHA256"].split("-")[0] == tarball.checksum_sha256.split("-")[0]
    local = backup_set.file("tarball").path.read_bytes()
    assert hashlib.sha256(client.get_object(Bucket=bucket, Key=tarball.key)["Body"].read()).digest() == hashlib.sha256(local).digest()
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_endpoint_down_mid_upload_is_one_clear_error_and_leaves_no_multipart(tmp_path: Path, make_settings: Any) -> None:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="bc-down-test")
    overrides = {"s3.bucket": "bc-down-test", "s3.endpoint_url": endpoint, "s3.region": "us-east-1",
                 "s3.max_attempts": 2, "s3.transfer_timeout_seconds": 5.0}
    settings, backup_set = _big_config_set(tmp_path, make_settings, overrides)
    stopped: list[bool] = []

    def stop_after_first_part(event: ProgressEvent) -> None:
        if event.phase.startswith("upload config_") and event.done and not event.finished and not stopped:
            server.stop()  # the endpoint dies with part 1 on S3 and parts 2-3 to go
            stopped.append(True)

    try:
        with pytest.raises(offsite.UploadFailed) as failure:
            offsite.upload_set(settings, backup_set, on_progress=stop_after_first_part)
        assert stopped
        assert f"cannot reach S3 endpoint {endpoint}" in failure.value.message
        assert "\n" not in failure.value.message
        assert len(offsite.pending_aborts(settings)) == 1  # the abort could not reach S3 either
        document = read_metadata(backup_set).document
        assert document["s3_uploaded"] is False and "s3" not in document
        assert [r.status for r in read_runs(settings.backup_dir) if r.action == "upload"] == ["failed"]

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        assert len(client.list_multipart_uploads(Bucket="bc-down-test").get("Uploads", [])) == 1
        assert offsite.list_offsite(settings) == []  # any later S3 call aborts what was left
        assert client.list_multipart_uploads(Bucket="bc-down-test").get("Uploads", []) == []
        assert offsite.pending_aborts(settings) == []
    finally:
        server.stop()


def test_cancel_mid_multipart_aborts_at_once(tmp_path: Path, make_settings: Any, s3_bucket: dict[str, Any]) -> None:
    from console.errors import Cancelled
    from console.progress import CancelToken

    settings, backup_set = _big_config_set(tmp_path, make_settings, s3_bucket)
    cancel = CancelToken()

    def cancel_after_first_part(event: ProgressEvent) -> None:
        if event.phase.startswith("upload config_") and event.done:
            cancel.cancel()

    with pytest.raises(Cancelled):
        offsite.upload_set(settings, backup_set, on_progress=cancel_after_first_part, cancel=cancel)
    client = s3_client(s3_bucket)
    assert client.list_multipart_uploads(Bucket=s3_bucket["s3.bucket"]).get("Uploads", []) == []
    assert offsite.pending_aborts(settings) == []


def test_refuses_to_upload_a_file_that_no_longer_matches_its_metadata(redis_set: tuple[Any, Any]) -> None:
    from tests.verify_fixtures import flip_byte

    settings, backup_set = redis_set
    flip_byte(backup_set.file("rdb").path)
    with pytest.raises(offsite.UploadFailed, match="does not match the SHA-256 in its metadata"):
        offsite.upload_set(settings, backup_set)


def test_a_damaged_big_file_is_caught_while_its_parts_go_and_leaves_no_object(
        tmp_path: Path, make_settings: Any, s3_bucket: dict[str, Any]) -> None:
    from tests.verify_fixtures import flip_byte

    settings, backup_set = _big_config_set(tmp_path, make_settings, s3_bucket)
    tarball = backup_set.file("tarball").path
    flip_byte(tarball)  # hashed on the way this time, not before: the upload must still not complete
    with pytest.raises(offsite.UploadFailed, match="does not match the SHA-256 in its metadata"):
        offsite.upload_set(settings, backup_set)
    client = s3_client(s3_bucket)
    bucket = s3_bucket["s3.bucket"]
    keys = [obj["Key"] for obj in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert not any(key.endswith(tarball.name) for key in keys)
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_verify_notices_missing_and_different_s3_objects(redis_set: tuple[Any, Any], s3_bucket: dict[str, Any]) -> None:
    from console.verify.run import verify_set

    settings, backup_set = redis_set
    result = offsite.upload_set(settings, backup_set)
    rdb = next(obj for obj in result.objects if obj.file.endswith(".rdb.gz"))
    fresh = scan(settings.backup_dir, ["redis"]).find(backup_set.set_id)
    checked = verify_set(settings, fresh)
    assert checked.status == "passed", checked.checks
    assert [o.status for o in checked.checks if o.check == "s3"] and all(
        o.status == "passed" for o in checked.checks if o.check == "s3")

    client = s3_client(s3_bucket)
    bucket = s3_bucket["s3.bucket"]
    original = client.get_object(Bucket=bucket, Key=rdb.key)["Body"].read()
    client.put_object(Bucket=bucket, Key=rdb.key, Body=bytes(b ^ 0xFF for b in original))  # same size, other bytes
    checked = verify_set(settings, fresh)
    s3_failures = [o for o in checked.checks if o.check == "s3" and o.status == "failed"]
    assert checked.status == "failed" and s3_failures and s3_failures[0].file == rdb.file

    client.delete_object(Bucket=bucket, Key=rdb.key)
    checked = verify_set(settings, fresh)
    assert any(o.check == "s3" and o.status == "failed" and "S3 copy missing" in o.message for o in checked.checks)


def test_legacy_metadata_is_not_rewritten_and_the_run_log_keeps_the_upload(
        redis_server: Any, make_settings: Any, s3_bucket: dict[str, Any], backup_dir: Path) -> None:
    from console.verify.run import verify_set

    redis_server.client().set("legacy", "1")
    backup_set = legacy_redis(backup_dir, redis_server)
    metadata_before = backup_set.metadata_path.read_bytes()
    settings = make_settings(s3_bucket)

    result = offsite.upload_set(settings, backup_set)

    assert not result.metadata_updated
    assert backup_set.metadata_path.read_bytes() == metadata_before
    keys = sorted(obj.key for obj in result.objects)
    assert keys == sorted([f"redis/{backup_set.stamp}/snapshot.rdb.gz", f"redis/{backup_set.stamp}/metadata.json"])
    checked = verify_set(settings, backup_set)
    assert any(o.check == "s3" and o.status == "passed" for o in checked.checks)


def test_backup_with_upload_and_a_failed_upload_keeps_the_set(redis_server: Any, make_settings: Any,
                                                              s3_bucket: dict[str, Any], tmp_path: Path) -> None:
    from console.kinds.base import BackupRequest
    from console.runner import execute

    redis_server.client().set("k", "v")
    settings = make_settings(redis_server.overrides(), s3_bucket)
    ok = execute(settings, BackupRequest("redis", upload=True))
    assert ok.ok, ok.message
    assert read_metadata(scan(settings.backup_dir, ["redis"]).find(ok.set_id)).document["s3_uploaded"] is True

    wrong = make_settings(redis_server.overrides(), s3_bucket, **{"s3.bucket": "bc-no-such-bucket",
                                                                  "backup_dir": str(tmp_path / "other")})
    failed = execute(wrong, BackupRequest("redis", upload=True, force_reason="bucket checked by the test"))
    assert failed.status == "failed"
    assert "kept locally" in failed.message and "bucket 'bc-no-such-bucket' does not exist" in failed.message
    assert scan(wrong.backup_dir, ["redis"]).find(failed.set_id) is not None


@pytest.mark.parametrize("damage", ["corrupt-json", "no-checksums", "deleted"])
def test_our_set_with_unusable_metadata_is_not_uploaded(redis_set: tuple[Any, Any], s3_bucket: dict[str, Any],
                                                        tmp_path: Path, damage: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from console.cli import main

    settings, backup_set = redis_set
    metadata = backup_set.metadata_path
    if damage == "corrupt-json":
        metadata.write_bytes(b'{"producer": "backup-console 1", "artifacts": [')
    elif damage == "no-checksums":
        document = json.loads(metadata.read_text())
        document["artifacts"] = [{k: v for k, v in a.items() if k != "sha256"} for a in document["artifacts"]]
        metadata.write_text(json.dumps(document))
    else:
        metadata.unlink()
    config = tmp_path / "backup-console.yaml"
    config.write_text(f"backup_dir: {settings.backup_dir}\ns3:\n  bucket: {s3_bucket['s3.bucket']}\n"
                      f"  endpoint_url: {s3_bucket['s3.endpoint_url']}\n  region: us-east-1\n")
    capsys.readouterr()

    code = main(["--config", str(config), "upload", backup_set.set_id])

    out, err = capsys.readouterr()
    errors = [line for line in err.splitlines() if line.startswith("backup-console: error:")]
    assert code == 1 and len(errors) == 1, err
    named = metadata.name if damage != "deleted" else "(no metadata file)"
    assert "without checksums" in errors[0] and backup_set.set_id in errors[0] and named in errors[0], errors[0]
    assert "Traceback" not in err and "uploaded" not in out
    listed = s3_client(s3_bucket).list_objects_v2(Bucket=s3_bucket["s3.bucket"]).get("Contents", [])
    assert not [item["Key"] for item in listed if backup_set.stamp in item["Key"]]  # nothing of the set on S3
    runs = [r for r in read_runs(settings.backup_dir) if r.action == "upload"]
    assert [r.status for r in runs] == ["failed"] and "without checksums" in runs[0].message


def test_an_upload_answered_with_another_checksum_fails_and_the_copy_is_deleted(redis_set: tuple[Any, Any],
                                                                                s3_bucket: dict[str, Any]) -> None:
    """Where S3 answers the upload with the stored ChecksumSHA256 (real S3's PutObject and
    CompleteMultipartUpload; moto's PutObject), that answer is the check: one that is not the file's
    fails the upload. moto never answers a wrong one, so the answer is given here; the object is real."""
    settings, backup_set = redis_set
    client = offsite.transfer_client(settings)
    bucket = s3_bucket["s3.bucket"]
    body = b"stored bytes"
    answer = client.put_object(Bucket=bucket, Key="redis/x/snapshot.rdb.gz", Body=body, ChecksumAlgorithm="SHA256")
    sent = offsite.UploadedObject("redis/x/snapshot.rdb.gz", "snapshot.rdb.gz", len(body),
                                  hashlib.sha256(body).hexdigest(), base64.b64encode(hashlib.sha256(body).digest()).decode(),
                                  1, "STANDARD")
    assert answer["ChecksumSHA256"] == sent.checksum_sha256
    offsite._confirm_stored(settings, client, bucket, sent, answer)  # the same: passes, the copy stays
    assert client.head_object(Bucket=bucket, Key=sent.key)["ContentLength"] == len(body)

    other = base64.b64encode(hashlib.sha256(b"other bytes").digest()).decode()
    with pytest.raises(offsite.UploadFailed, match="snapshot.rdb.gz on S3 does not match: S3 stored SHA-256"):
        offsite._confirm_stored(settings, client, bucket, sent, {**answer, "ChecksumSHA256": other})
    assert client.list_objects_v2(Bucket=bucket, Prefix=sent.key).get("KeyCount", 0) == 0
