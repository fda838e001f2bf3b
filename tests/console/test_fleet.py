"""Fleet records: every backup and verify run publishes its targets' latest state to
``<s3.prefix>/_fleet/<host>/<kind>@<instance>[/<target>].json`` (real backups, moto on loopback);
a publish that fails never fails the run, and is on record."""

from __future__ import annotations

import json
from pathlib import Path

import boto3

from console import fleet
from console.config import load_settings
from console.kinds.base import BackupRequest
from console.runlog import read_runs
from console.runner import execute
from console.verify.run import verify
from tests.servers import free_port

SECRETS = ("redis-pass-7731", "enc-key-5521", "webhook-token-9910", "queue-file-secret-3321")


def host_config(root: Path, host: str, s3: dict[str, object], prefix: str = "prod") -> Path:
    """A backup host: its own BACKUP_DIR and config trees, the shared bucket, secrets in the settings."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("app", "web"):
        tree = root / name
        tree.mkdir(exist_ok=True)
        (tree / "settings.yml").write_text(f"name: {name}\n")
    secret_file = root / "queue.pass"
    secret_file.write_text(SECRETS[3] + "\n")
    secret_file.chmod(0o600)
    config = root / "bc.yaml"
    config.write_text(f"""\
backup_dir: {root / 'backups'}
host_name: {host}
s3:
  bucket: {s3['s3.bucket']}
  endpoint_url: {s3['s3.endpoint_url']}
  region: us-east-1
  prefix: {prefix}
encryption:
  key: {SECRETS[1]}
alerts:
  webhook_url: https://hooks.example/{SECRETS[2]}
  stale_hours: 30
redis:
  password: {SECRETS[0]}
  instances:
    queue: {{password_file: {secret_file}}}
config_backup:
  source_dir: {root / 'app'}
  instances:
    default:
    web: {{source_dir: {root / 'web'}, schedule: "off", s3_prefix: web-configs}}
""")
    return config


def get_record(s3: dict[str, object], key: str) -> dict:
    client = boto3.client("s3", endpoint_url=str(s3["s3.endpoint_url"]), region_name="us-east-1")
    body = client.get_object(Bucket=str(s3["s3.bucket"]), Key=key)["Body"].read()
    text = body.decode()
    for secret in SECRETS:
        assert secret not in text
    return json.loads(text)


def test_backup_and_verify_publish_the_latest_state(tmp_path, s3_bucket):
    settings = load_settings(host_config(tmp_path / "a", "host-a", s3_bucket), env={})
    result = execute(settings, BackupRequest("config", instance="default"))
    assert result.ok, result.message
    assert result.extra["fleet"] == {"published": True, "keys": ["prod/_fleet/host-a/config@default.json"]}
    record = get_record(s3_bucket, "prod/_fleet/host-a/config@default.json")
    assert record["format"] == fleet.FORMAT
    assert (record["host"], record["kind"], record["instance"], record["target"]) == ("host-a", "config", "default", "")
    assert (record["result"], record["set_id"], record["verification"]) == ("ok", result.set_id, "unverified")
    assert record["size_bytes"] == sum(item.size_bytes for item in result.files) > 0
    assert record["schedule"] == "nightly" and record["scheduled"] is True and record["stale_hours"] == 30
    assert record["finished"] > 0 and record["finished_at"].startswith(str(record["finished_at"])[:4])
    assert str(tmp_path) not in json.dumps(record)  # no local paths either

    # the instance with its own s3_prefix still reports under the shared <s3.prefix>/_fleet/
    web = execute(settings, BackupRequest("config", instance="web"))
    assert web.ok and get_record(s3_bucket, "prod/_fleet/host-a/config@web.json")["schedule"] == "off"

    report = verify(settings, set_id=result.set_id)
    assert report.ok
    assert get_record(s3_bucket, "prod/_fleet/host-a/config@default.json")["verification"] == "verified"
    verify_run = [run for run in read_runs(settings.backup_dir) if run.action == "verify"][-1]
    assert verify_run.extra["fleet"]["keys"] == ["prod/_fleet/host-a/config@default.json"]

    # a failed run replaces the record: result failed, the newest good set and its verification kept
    for path in (tmp_path / "a" / "app").iterdir():
        path.unlink()
    (tmp_path / "a" / "app").rmdir()
    failed = execute(settings, BackupRequest("config", instance="default"))
    assert not failed.ok
    record = get_record(s3_bucket, "prod/_fleet/host-a/config@default.json")
    assert (record["result"], record["set_id"], record["verification"]) == ("failed", result.set_id, "verified")
    assert record["message"]


def test_a_database_target_has_its_own_record(tmp_path, s3_bucket, pg_cluster, pg_database, make_settings):
    settings = make_settings(pg_cluster.overrides(), s3_bucket, **{"postgres.database": pg_database,
                                                                   "host_name": "db host/1"})
    result = execute(settings, BackupRequest("postgres", target=pg_database))
    assert result.ok, result.message
    key = f"_fleet/db-host-1/postgres@default/{pg_database}.json"
    assert result.extra["fleet"]["keys"] == [key]
    record = get_record(s3_bucket, key)
    assert (record["target"], record["label"], record["host"]) == (pg_database, f"postgres/{pg_database}", "db-host-1")
    assert "password" not in json.dumps(record).lower()


def test_without_a_bucket_nothing_is_published(tmp_path, make_settings):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.yml").write_text("a: 1\n")
    result = execute(make_settings(**{"config_backup.source_dir": str(tree)}), BackupRequest("config"))
    assert result.ok and "fleet" not in result.extra


def test_a_failed_publish_never_fails_the_run(tmp_path, s3_bucket):
    dead = {**s3_bucket, "s3.endpoint_url": f"http://127.0.0.1:{free_port()}"}  # nothing listens there
    settings = load_settings(host_config(tmp_path / "a", "host-a", dead), env={})
    result = execute(settings, BackupRequest("config", instance="default"))
    assert result.ok
    assert "fleet record not published" in result.message
    assert result.extra["fleet"]["published"] is False and result.extra["fleet"]["error"]
    runs = read_runs(settings.backup_dir)
    assert runs[-2].action == "backup" and runs[-2].status == "ok"
    assert runs[-1].action == "fleet" and runs[-1].status == "failed" and runs[-1].instance == "default"
    assert "127.0.0.1" in runs[-1].message

    report = verify(settings, set_id=result.set_id)
    assert report.ok  # the verification stands
    verify_run = [run for run in read_runs(settings.backup_dir) if run.action == "verify"][-1]
    assert verify_run.status == "ok" and "fleet record not published" in verify_run.message
    assert verify_run.extra["fleet"]["published"] is False


def test_record_keys():
    class S3:
        prefix = "/prod/"

    class Settings:
        s3 = S3()
        host_name = ""

    assert fleet.record_key(Settings(), "h1", "redis", "cache", "") == "prod/_fleet/h1/redis@cache.json"
    assert fleet.record_key(Settings(), "h1", "postgres", "default", "my db/x") == \
        "prod/_fleet/h1/postgres@default/my%20db%2Fx.json"
    assert fleet.safe_host("db host/1") == "db-host-1"
    assert fleet.host_of(Settings()) == fleet.safe_host(__import__("socket").gethostname())
