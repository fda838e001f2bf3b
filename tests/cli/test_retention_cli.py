"""`backup-console retention ...` end to end through console.cli.main."""

from __future__ import annotations

import json

import pytest

from console.cli import main
from tests.retention_fixtures import make_scenario, stamp_days_ago


pytestmark = pytest.mark.usefixtures("utc")


@pytest.fixture
def scenario(backup_dir, monkeypatch):
    make_scenario(backup_dir)
    monkeypatch.setenv("BACKUP_DIR", str(backup_dir))
    return backup_dir


def test_plan_json_lists_removals_with_reasons(scenario, capsys):
    assert main(["retention", "plan", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["offsite_status"] == "not configured (no bucket)"
    removed = {item["set_id"] for item in document["local"]["remove"]}
    assert f"postgres/billing/{stamp_days_ago(30)}" in removed
    kept = {item["set_id"]: item["reasons"] for item in document["local"]["keep"]}
    assert "newest verified" in kept[f"postgres/app/{stamp_days_ago(10)}"]
    assert document["sets_to_remove"] == len(document["local"]["remove"]) > 0
    assert document["freed_bytes"] > 0


def test_plan_text(scenario, capsys):
    assert main(["retention", "plan"]) == 0
    out = capsys.readouterr().out
    assert "REMOVE" in out and "newest verified" in out and "min_keep 1/3" in out
    assert "unrecognised file(s) left alone" in out


def test_apply_needs_yes_and_deletes_nothing_without_it(scenario, capsys):
    old = scenario / "postgres" / f"backup_app_{stamp_days_ago(12)}.dump"
    assert main(["retention", "apply"]) == 2
    err = capsys.readouterr().err
    assert "--yes" in err
    assert old.exists()


def test_apply_read_only_refuses(scenario, capsys):
    old = scenario / "postgres" / f"backup_app_{stamp_days_ago(12)}.dump"
    assert main(["--read-only", "retention", "apply", "--yes"]) == 2
    assert "read-only" in capsys.readouterr().err
    assert old.exists()


def test_apply_yes_removes_whole_sets(scenario, capsys):
    stamp = stamp_days_ago(12)
    assert main(["retention", "apply", "--yes", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert f"postgres/app/{stamp}" in document["result"]["deleted"]
    assert not list((scenario / "postgres").glob(f"*_{stamp}.*"))
    assert (scenario / "postgres" / "notes.txt").exists()


def test_policy_shows_overrides(monkeypatch, capsys):
    monkeypatch.setenv("S3_RETENTION_DAYS", "45")
    assert main(["retention", "policy"]) == 0
    out = capsys.readouterr().out
    assert "s3_standard_days <- S3_RETENTION_DAYS (env S3_RETENTION_DAYS)" in out
    assert "7 y" in out and "indefinite" in out


def test_lifecycle_without_bucket_is_a_usage_error(capsys):
    assert main(["retention", "lifecycle"]) == 2
    assert "no S3 bucket" in capsys.readouterr().err


def test_an_unreachable_bucket_is_not_reported_as_pruned(scenario, tmp_path, capsys):
    from tests.servers import free_port

    config = tmp_path / "offsite.yaml"
    config.write_text(f"s3:\n  bucket: offsite\n  endpoint_url: http://127.0.0.1:{free_port()}\n  max_attempts: 1\n")
    overrides = ["--config", str(config)]
    assert main([*overrides, "retention", "plan"]) == 3
    assert "offsite not planned" in capsys.readouterr().err
    old = scenario / "postgres" / f"backup_app_{stamp_days_ago(12)}.dump"
    assert main([*overrides, "retention", "apply", "--yes", "--json"]) == 3
    captured = capsys.readouterr()
    assert json.loads(captured.out)["offsite_unplanned"] is True
    assert "127.0.0.1" in captured.err and not old.exists()  # the local tier was still pruned
    assert main([*overrides, "retention", "plan", "--local-only"]) == 0


def test_apply_with_nothing_to_delete_is_exit_0_without_yes(backup_dir, monkeypatch, capsys):
    monkeypatch.setenv("BACKUP_DIR", str(backup_dir))
    (backup_dir / "redis").mkdir(parents=True)
    (backup_dir / "redis" / f"snapshot_{stamp_days_ago(1)}.rdb.gz").write_bytes(b"x")
    assert main(["retention", "apply"]) == 0
    captured = capsys.readouterr()
    assert "nothing to delete" in captured.out and "--yes" not in captured.out + captured.err
    assert (backup_dir / "redis" / f"snapshot_{stamp_days_ago(1)}.rdb.gz").exists()
    assert main(["retention", "apply", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["nothing_to_do"] is True
