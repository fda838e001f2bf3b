"""Bucket lifecycle rules generated from the policy: shape, diff, and a round trip on moto's S3 server."""

from __future__ import annotations

import json

import boto3

from console.cli import main
from console.retention import lifecycle

from console.retention.policy import SHIPPED_POLICY, read_policy


def test_rules_follow_the_policy():
    rules, notes = lifecycle.build_rules(read_policy(SHIPPED_POLICY, "test"), "prod/")
    by_id = {rule["ID"]: rule for rule in rules}
    assert by_id["backup-console-postgres"]["Filter"] == {"Prefix": "prod/postgres/"}
    assert by_id["backup-console-postgres"]["Transitions"] == [{"Days": 30, "StorageClass": "DEEP_ARCHIVE"}]
    assert by_id["backup-console-postgres"]["Expiration"] == {"Days": 2555}
    assert by_id["backup-console-redis"]["Transitions"] == [{"Days": 30, "StorageClass": "GLACIER"}]
    assert by_id["backup-console-redis"]["Expiration"] == {"Days": 90}
    assert "Transitions" not in by_id["backup-console-postgres-wal"]
    assert by_id["backup-console-postgres-wal"]["Expiration"] == {"Days": 7}
    assert "Expiration" not in by_id["backup-console-certs"] and "Transitions" not in by_id["backup-console-certs"]
    assert any("certs: kept indefinitely" in note for note in notes)


def test_round_trip_on_s3_keeps_foreign_rules(s3_bucket, make_settings, capsys):
    settings = make_settings(s3_bucket, **{"s3.prefix": "prod"})
    client = boto3.client("s3", endpoint_url=settings.s3.endpoint_url, region_name="us-east-1")
    foreign = {"ID": "someone-elses-logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled",
               "Expiration": {"Days": 3}}
    stale_ours = {"ID": "backup-console-old-kind", "Filter": {"Prefix": "prod/old/"}, "Status": "Enabled",
                  "Expiration": {"Days": 1}}
    client.put_bucket_lifecycle_configuration(Bucket=settings.s3.bucket,
                                              LifecycleConfiguration={"Rules": [foreign, stale_ours]})
    comparison = lifecycle.compare(settings)
    actions = {change.rule_id: change.action for change in comparison.changes}
    assert actions["backup-console-postgres"] == "add" and actions["backup-console-old-kind"] == "remove"
    assert comparison.changed

    config = settings.backup_dir.parent / "bc.yaml"
    config.write_text(f"s3:\n  bucket: {settings.s3.bucket}\n  endpoint_url: {settings.s3.endpoint_url}\n"
                      f"  region: us-east-1\n  prefix: prod\n")
    assert main(["--config", str(config), "retention", "lifecycle", "--apply"]) == 2  # needs --yes
    assert lifecycle.compare(settings).changed
    capsys.readouterr()
    assert main(["--config", str(config), "retention", "lifecycle", "--apply", "--yes", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["applied"] is True

    after = lifecycle.compare(settings)
    assert not after.changed, [c.as_json() for c in after.changes if c.action != "same"]
    stored = {rule["ID"]: rule for rule in lifecycle.current_rules(client, settings.s3.bucket)}
    assert "someone-elses-logs" in stored and "backup-console-old-kind" not in stored
    assert lifecycle.normalise(stored["backup-console-redis"])["Transitions"] == [[30, "GLACIER"]]
    assert main(["--config", str(config), "retention", "lifecycle"]) == 0
    assert "in sync with the policy" in capsys.readouterr().out


def test_read_only_refuses_lifecycle_apply(s3_bucket, make_settings, tmp_path, capsys):
    config = tmp_path / "bc.yaml"
    config.write_text(f"read_only: true\ns3:\n  bucket: {s3_bucket['s3.bucket']}\n"
                      f"  endpoint_url: {s3_bucket['s3.endpoint_url']}\n  region: us-east-1\n")
    assert main(["--config", str(config), "retention", "lifecycle", "--apply", "--yes"]) == 2
    assert "read-only" in capsys.readouterr().err
