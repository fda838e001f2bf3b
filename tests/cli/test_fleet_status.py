"""`status --fleet [--json]`: several backup hosts (each its own BACKUP_DIR and host_name) publish to
one moto bucket; the fleet view shows each host's targets, flags failed and stale ones, exit 1."""

from __future__ import annotations

import json
from pathlib import Path

import boto3

from console import fleet
from console.cli import main
from console.config import load_settings
from console.fleet_view import evaluate
from tests.servers import free_port

DAY = 24 * 3600


def make_host(root: Path, host: str, s3: dict[str, object], source: bool = True) -> Path:
    root.mkdir(parents=True)
    if source:
        (root / "app").mkdir()
        (root / "app" / "settings.yml").write_text(f"host: {host}\n")
    config = root / "bc.yaml"
    config.write_text(f"""\
backup_dir: {root / 'backups'}
host_name: {host}
s3:
  bucket: {s3['s3.bucket']}
  endpoint_url: {s3['s3.endpoint_url']}
  region: us-east-1
  prefix: fleet-test
config_backup:
  source_dir: {root / 'app'}
""")
    return config


def fleet_json(config: Path, capsys) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["--config", str(config), "status", "--fleet", "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_several_hosts_in_one_bucket(tmp_path, s3_bucket, capsys):
    host_a = make_host(tmp_path / "a", "host-a", s3_bucket)
    host_b = make_host(tmp_path / "b", "host-b", s3_bucket, source=False)  # its source tree is gone
    assert main(["--config", str(host_a), "backup", "config"]) == 0
    assert main(["--config", str(host_a), "verify", "--kind", "config"]) == 0

    code, document = fleet_json(host_a, capsys)
    assert code == 0, document
    (only,) = document["hosts"]
    assert only["host"] == "host-a" and only["ok"] and not only["stale"]
    (target,) = only["targets"]
    assert (target["label"], target["result"], target["verification"], target["state"]) == (
        "config", "ok", "verified", "OK")
    assert target["age_seconds"] < 600 and target["size_bytes"] > 0

    assert main(["--config", str(host_b), "backup", "config"]) != 0  # recorded and published as failed
    code, document = fleet_json(host_b, capsys)  # any host reads the whole fleet
    assert code == 1
    hosts = {host["host"]: host for host in document["hosts"]}
    assert set(hosts) == {"host-a", "host-b"}
    (failed,) = hosts["host-b"]["targets"]
    assert failed["result"] == "failed" and failed["problems"] == ["FAILED", "STALE"]  # and never backed up
    assert hosts["host-a"]["ok"] and not hosts["host-b"]["ok"] and not hosts["host-b"]["stale"]

    # host-c went silent three days ago: its last record is all that is left of it
    settings_a = load_settings(host_a, env={})
    record = fleet.build_record(settings_a, fleet.Target("config"), host="host-c")
    for key in ("published", "finished", "set_timestamp"):
        record[key] -= 3 * DAY
    client = boto3.client("s3", endpoint_url=str(s3_bucket["s3.endpoint_url"]), region_name="us-east-1")
    client.put_object(Bucket=str(s3_bucket["s3.bucket"]), Key="fleet-test/_fleet/host-c/config@default.json",
                      Body=json.dumps(record).encode())
    client.put_object(Bucket=str(s3_bucket["s3.bucket"]), Key="fleet-test/_fleet/host-c/notes.txt", Body=b"hello")
    code, document = fleet_json(host_a, capsys)
    assert code == 1
    hosts = {host["host"]: host for host in document["hosts"]}
    assert hosts["host-c"]["stale"] and "no record from host-c for 72 h" in hosts["host-c"]["reason"]
    assert hosts["host-c"]["targets"][0]["state"] == "STALE"
    assert document["unreadable"] == ["fleet-test/_fleet/host-c/notes.txt: not a .json record"]

    capsys.readouterr()
    assert main(["--config", str(host_a), "status", "--fleet"]) == 1
    text = capsys.readouterr().out
    assert text.startswith("PROBLEMS: 3 host(s), 3 target(s); 1 failed, 2 stale target(s), 1 stale host(s)")
    assert "STALE host host-c: no record from host-c for 72 h" in text
    lines = text.splitlines()
    assert any(line.startswith("host-a ") and " verified " in line and line.rstrip().endswith("OK") for line in lines)
    assert any(line.startswith("host-b ") and "FAILED, STALE" in line for line in lines)
    assert any(line.startswith("host-c (STALE)") for line in lines)


def test_judging_at_a_later_time(tmp_path, s3_bucket):
    """The same records, judged 30 hours later: every scheduled target is stale, schedule off never is."""
    config = make_host(tmp_path / "a", "host-a", s3_bucket)
    assert main(["--config", str(config), "backup", "config"]) == 0
    settings = load_settings(config, env={})
    record = fleet.build_record(settings, fleet.Target("config"))
    now = record["published"]
    assert evaluate([record], now, 26).ok
    later = evaluate([record], now + 30 * 3600, 26)
    assert not later.ok and later.hosts[0].stale and later.targets[0].problems == ("STALE",)
    assert "newest backup 30 h old (stale after 26 h, schedule nightly)" in later.targets[0].reasons[0]
    off = {**record, "scheduled": False, "schedule": "off"}
    assert evaluate([off], now + 90 * DAY, 26).ok
    assert evaluate([{**record, "stale_hours": 40}], now + 30 * 3600, 26).ok  # the host's own threshold


def test_no_bucket_and_dead_bucket(tmp_path, make_settings, capsys, s3_bucket):
    assert main(["status", "--fleet"]) == 2
    assert "no S3 bucket is configured" in capsys.readouterr().err
    dead = {**s3_bucket, "s3.endpoint_url": f"http://127.0.0.1:{free_port()}"}
    config = make_host(tmp_path / "d", "host-d", dead)
    assert main(["--config", str(config), "status", "--fleet"]) == 1
    err = capsys.readouterr().err
    assert "cannot list the fleet records" in err and "Traceback" not in err
    assert main(["--config", str(config), "status", "--fleet", "--service", "s3"]) == 2
