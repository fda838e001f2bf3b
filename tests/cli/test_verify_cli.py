"""The verify, reports, upload and s3 verbs end to end through ``console.cli.main``: output streams,
JSON documents and exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from console.cli import main
from tests.servers import free_port
from tests.verify_fixtures import flip_byte, our_backup


def write_config(tmp_path: Path, backup_dir: Path, **sections: dict[str, Any]) -> str:
    path = tmp_path / "backup-console.yaml"
    path.write_text(yaml.safe_dump({"backup_dir": str(backup_dir), "timeout_seconds": 2.0, **sections}))
    return str(path)


@pytest.fixture
def redis_backup(redis_server: Any, make_settings: Any) -> Any:
    redis_server.client().mset({"a": "1", "b": "2"})
    settings = make_settings(redis_server.overrides())
    return our_backup(settings, "redis")


def test_verify_passes_with_json_and_fails_after_damage(redis_backup: Any, backup_dir: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, backup_dir)
    assert main(["verify", "--config", config, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["status"] == "passed" and document["summary"]["failed"] == 0
    assert Path(document["report_text"]).is_file() and Path(document["report_json"]).is_file()

    flip_byte(redis_backup.file("rdb").path)
    assert main(["verify", "--config", config, "--kind", "redis"]) == 1
    captured = capsys.readouterr()
    assert "Status: ✗ BACKUP VERIFICATION FAILED" in captured.out
    assert "=== Redis Backups ===" in captured.out and "=== PostgreSQL Backups ===" not in captured.out
    assert f"{redis_backup.file('rdb').path.name}: [sha256]" in captured.err

    assert main(["reports", "list", "--config", config, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["reports"]
    assert [item["status"] for item in listed] == ["failed", "passed"]
    assert main(["reports", "show", "--config", config]) == 1
    assert "Failed Checks: " in capsys.readouterr().out


def test_verify_unknown_set_is_a_usage_error(backup_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, backup_dir)
    assert main(["verify", "--config", config, "--set", "redis/20200101_000000"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("backup-console: error: no backup set 'redis/20200101_000000'") and "Traceback" not in err


def test_upload_latest_and_s3_ls(redis_backup: Any, backup_dir: Path, tmp_path: Path, s3_bucket: dict[str, Any],
                                 capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, backup_dir, s3={"bucket": s3_bucket["s3.bucket"],
                                                    "endpoint_url": s3_bucket["s3.endpoint_url"], "region": "us-east-1"})
    assert main(["upload", "--config", config, "--latest", "redis", "--json"]) == 0
    uploaded = json.loads(capsys.readouterr().out)
    assert uploaded["set_id"] == redis_backup.set_id and uploaded["storage_class"] == "STANDARD_IA"
    assert f"redis/{redis_backup.stamp}/snapshot.rdb.gz" in uploaded["keys"]

    assert main(["s3", "ls", "--config", config, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["sets"]
    assert [(item["kind"], item["stamp"]) for item in listed] == [("redis", redis_backup.stamp)]
    assert listed[0]["size_bytes"] > 0 and "STANDARD_IA" in listed[0]["storage_classes"]
    assert main(["s3", "ls", "--config", config, "--kind", "postgres"]) == 0
    assert "no backup sets" in capsys.readouterr().out

    assert main(["upload", "--config", config, str(redis_backup.file("rdb").path)]) == 0  # by the path of a file
    out = capsys.readouterr().out
    assert out.startswith(f"{redis_backup.set_id}: uploaded ") and "STANDARD_IA" in out


@pytest.mark.parametrize("case", ["no-bucket", "missing-bucket", "endpoint-down"])
def test_upload_failures_are_one_line_exit_1(case: str, redis_backup: Any, backup_dir: Path, tmp_path: Path,
                                             s3_endpoint: str, capsys: pytest.CaptureFixture[str]) -> None:
    s3: dict[str, Any] = {"region": "us-east-1", "max_attempts": 1, "transfer_timeout_seconds": 2.0}
    if case == "missing-bucket":
        s3.update(bucket="bc-does-not-exist", endpoint_url=s3_endpoint)
    elif case == "endpoint-down":
        s3.update(bucket="bc-any", endpoint_url=f"http://127.0.0.1:{free_port()}")
    config = write_config(tmp_path, backup_dir, s3=s3)
    assert main(["upload", "--config", config, redis_backup.set_id]) == 1
    err = capsys.readouterr().err
    expected = {"no-bucket": "no S3 bucket configured", "missing-bucket": "bucket 'bc-does-not-exist' does not exist",
                "endpoint-down": "cannot reach S3 endpoint"}[case]
    first = err.splitlines()[0]
    assert first.startswith("backup-console: error: ") and expected in first
    assert "Traceback" not in err and "testing" not in err  # no stack, no credentials
