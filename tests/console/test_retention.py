"""Retention decisions over real sets on disk, pinned by golden files, and their execution."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest

from console.catalog import scan
from console.errors import ConfigError, ReadOnlyRefused
from console.offsite.bucket import OffsiteSet, group_objects, parse_key
from console.retention.apply import apply_retention, plan_retention, verification_map
from console.retention.plan import UnsafePlan, apply_policy
from console.retention.policy import SHIPPED_POLICY, Policy, load_policy, read_policy
from console.runlog import read_runs
from tests.retention_fixtures import make_scenario, make_set, now, stamp_days_ago


GOLDEN = Path(__file__).parent.parent / "golden"


pytestmark = pytest.mark.usefixtures("utc")  # stamps are local time: pin the zone for the goldens


def check_golden(name: str, document: dict) -> None:
    path = GOLDEN / name
    rendered = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_GOLDEN") or not path.exists():
        path.write_text(rendered)
    assert rendered == path.read_text(), f"{name} changed: a retention decision changed (UPDATE_GOLDEN=1 to accept)"


def test_config_retention_yaml_is_the_shipped_policy():
    repo_file = Path(__file__).resolve().parents[2] / "config" / "retention.yaml"
    assert repo_file.resolve() == SHIPPED_POLICY.resolve()


def test_policy_reflects_the_manuals_table(make_settings):
    policy = load_policy(make_settings())
    pg, wal, certs = policy.rule("postgres"), policy.rule("postgres-wal"), policy.rule("certs")
    assert (pg.local_days, pg.s3_standard_days, pg.expiration_days) == (7, 30, 2555)
    assert (wal.local_days, wal.expiration_days, wal.transition_days) == (1, 7, None)
    assert certs.local_days is None and certs.expiration_days is None
    assert policy.min_keep == 3


def test_golden_local_plan(backup_dir):
    make_scenario(backup_dir)
    catalog = scan(backup_dir)
    plan = apply_policy(catalog.sets, read_policy(SHIPPED_POLICY, "built-in"), now(),
                        verified=verification_map(catalog))
    check_golden("retention_local.json", plan.as_json())
    removed = {item.set_id for item in plan.remove}
    assert removed == {
        *(f"postgres/app/{stamp_days_ago(d)}" for d in (7, 8, 9, 11, 12)),
        f"postgres/billing/{stamp_days_ago(30)}",
        f"redis/{stamp_days_ago(7)}", f"redis/{stamp_days_ago(8)}", f"redis/{stamp_days_ago(10, hour=4)}",
        f"config/{stamp_days_ago(40)}",
    }
    kept = {item.set_id: item.reasons for item in plan.keep}
    assert kept[f"postgres/app/{stamp_days_ago(10)}"] == ("newest verified",)
    assert kept[f"postgres/billing/{stamp_days_ago(22)}"] == ("min_keep 3/3",)
    assert kept[f"postgres/app/{stamp_days_ago(1)}"] == ("min_keep 1/3", "within 7 d")
    assert kept[f"certs/{stamp_days_ago(800)}"] == ("min_keep 2/3", "indefinite")
    assert plan.freed_bytes == sum(item.size_bytes for item in plan.remove) > 0


def test_golden_offsite_plan():
    def offsite(kind, days, classes=("STANDARD_IA",), name=""):
        stamp = stamp_days_ago(days)
        return OffsiteSet(kind, name, now().replace(hour=2) - timedelta(days=days),
                          (f"prod/{kind}/{stamp}/backup.bin", f"prod/{kind}/{stamp}/metadata.json"), 2048, classes)

    sets = [offsite("postgres", d) for d in (1, 29, 31, 400, 2600)]
    sets += [offsite("redis", d) for d in (5, 35, 91, 100)]
    sets += [offsite("redis", 60, ("GLACIER",))]
    plan = apply_policy(sets, read_policy(SHIPPED_POLICY, "built-in"), now(), tier="s3")
    check_golden("retention_offsite.json", plan.as_json())
    assert {item.set_id for item in plan.remove} == {f"postgres/{stamp_days_ago(2600)}", f"redis/{stamp_days_ago(91)}", f"redis/{stamp_days_ago(100)}"}
    assert {item.set_id for item in plan.transition} == {f"postgres/{stamp_days_ago(d)}" for d in (31, 400)} | {
        f"redis/{stamp_days_ago(35)}"}


def test_environment_overrides_apply_to_daily_kinds(backup_dir, make_settings):
    for days in range(1, 8):
        make_set(backup_dir, "redis", stamp_days_ago(days), status="pending")
    settings = make_settings(**{"retention.local_days": 3, "retention.min_keep": 2})
    policy = load_policy(settings)
    assert policy.rule("redis").local_days == 3 and policy.rule("config").local_days == 14
    assert policy.rule("redis").overridden == ("local_days <- LOCAL_RETENTION_DAYS (flag)",)
    plan = plan_retention(settings, now=now())
    check_golden("retention_overrides.json", plan.local.as_json())
    assert [item.stamp for item in plan.local.remove] == [stamp_days_ago(d) for d in (3, 4, 5, 6, 7)]


def test_environment_variable_sets_local_days(backup_dir):
    from console.config import load_settings

    settings = load_settings(None, env={"LOCAL_RETENTION_DAYS": "2", "BACKUP_DIR": str(backup_dir)})
    assert load_policy(settings).rule("postgres").local_days == 2


def test_empty_policy_is_refused(tmp_path, make_settings):
    empty = tmp_path / "empty.yaml"
    empty.write_text("rules: {}\n")
    with pytest.raises(ConfigError, match="no rules"):
        load_policy(make_settings(**{"retention.policy_file": str(empty)}))
    with pytest.raises(ConfigError, match="no rules"):
        apply_policy([], Policy({}), now())


def test_policy_typo_names_the_key(tmp_path, make_settings):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  redis: {local_dayz: 3}\n")
    with pytest.raises(ConfigError, match="Did you mean 'local_days'"):
        load_policy(make_settings(**{"retention.policy_file": str(bad)}))


def test_deleting_everything_needs_the_unsafe_flag(backup_dir):
    for days in (10, 11):
        make_set(backup_dir, "redis", stamp_days_ago(days), status="pending")
    policy = read_policy(SHIPPED_POLICY, "test", min_keep=3)
    zero = Policy(policy.rules, min_keep=0, source="test")
    sets = scan(backup_dir).sets
    with pytest.raises(UnsafePlan, match="every redis backup"):
        apply_policy(sets, zero, now())
    assert len(apply_policy(sets, zero, now(), allow_delete_all=True).remove) == 2
    assert len(apply_policy(sets, policy, now()).remove) == 0


def test_apply_removes_whole_sets_and_logs(backup_dir, make_settings):
    make_scenario(backup_dir)
    settings = make_settings()
    before = {p.name for p in (backup_dir / "postgres").iterdir()}
    plans, result = apply_retention(settings, now=now())
    assert not result.errors
    assert len(result.deleted) == len(plans.local.remove) == 10
    after = {p.name for p in (backup_dir / "postgres").iterdir()}
    gone = before - after
    stamp = stamp_days_ago(7)
    assert {f"backup_app_{stamp}.dump", f"backup_app_{stamp}.sql.gz", f"backup_app_{stamp}.json"} <= gone
    assert "notes.txt" in after and "backup_app_20200101_000000.dump.partial" in after  # unrecognised: untouched
    catalog = scan(backup_dir)
    assert {s.set_id for s in catalog.sets} == {d.set_id for d in plans.local.keep}
    assert all(len(s.files) >= 2 for s in catalog.sets if s.kind == "postgres")  # no orphans left behind
    runs = [r for r in read_runs(backup_dir) if r.action == "retention"]
    assert {r.kind for r in runs} == {"postgres", "redis", "config"}
    logged = {item["set_id"] for r in runs for item in r.extra["deleted"]}
    assert logged == {d.set_id for d in plans.local.remove}
    again, second = apply_retention(settings, now=now())
    assert not again.local.remove and not second.deleted


def test_dry_run_deletes_nothing(backup_dir, make_settings):
    make_scenario(backup_dir)
    def listing():
        return sorted(p for p in backup_dir.rglob("*") if p.is_file() and ".locks" not in p.parts)

    files_before = listing()
    plans, result = apply_retention(make_settings(read_only=True), now=now(), dry_run=True)
    assert len(result.deleted) == 10 and result.dry_run
    assert listing() == files_before


def test_read_only_refuses_apply(backup_dir, make_settings):
    make_scenario(backup_dir)
    with pytest.raises(ReadOnlyRefused):
        apply_retention(make_settings(read_only=True), now=now())
    assert (backup_dir / "postgres" / f"backup_app_{stamp_days_ago(12)}.dump").exists()


def test_confirmed_count_must_match(backup_dir, make_settings):
    from console.errors import ConsoleError

    make_scenario(backup_dir)
    with pytest.raises(ConsoleError, match="not the 3 confirmed"):
        apply_retention(make_settings(), now=now(), expected_sets=3)
    assert len(plan_retention(make_settings(), now=now()).local.remove) == 10


def test_offsite_keys_are_grouped_into_sets():
    objects = [{"Key": "prod/postgres/20261101_020000/backup.dump", "Size": 10, "StorageClass": "STANDARD_IA"},
               {"Key": "prod/postgres/20261101_020000/metadata.json", "Size": 1},
               {"Key": "prod/postgres/app/20261102_020000/backup.dump", "Size": 5},
               {"Key": "prod/postgres/wal/000000010000000000000001", "Size": 16},
               {"Key": "prod/readme.txt", "Size": 1}]
    sets, stray = group_objects(objects, "prod/")
    assert [(s.set_id, s.size_bytes) for s in sets] == [("postgres/20261101_020000", 11), ("postgres/app/20261102_020000", 5)]
    assert stray == ["prod/postgres/wal/000000010000000000000001", "prod/readme.txt"]
    assert parse_key("redis/20261101_020000/snapshot.rdb.gz", "") == ("redis", "", "20261101_020000")


def test_offsite_expired_objects_are_deleted_through_apply(backup_dir, make_settings, s3_bucket):
    import boto3

    settings = make_settings(s3_bucket, **{"s3.prefix": "prod/"})
    client = boto3.client("s3", endpoint_url=settings.s3.endpoint_url, region_name="us-east-1")
    old, recent = stamp_days_ago(100), stamp_days_ago(10)
    for days in (100, 50, 40, 10):
        stamp = stamp_days_ago(days)
        for leaf in ("snapshot.rdb.gz", "metadata.json"):
            client.put_object(Bucket=settings.s3.bucket, Key=f"prod/redis/{stamp}/{leaf}", Body=b"r" * 64)
    client.put_object(Bucket=settings.s3.bucket, Key="other/redis/20200101_000000/x", Body=b"x")
    plans = plan_retention(settings, now=now())
    assert plans.offsite_status == "planned"
    assert [d.set_id for d in plans.offsite.remove] == [f"redis/{old}"]
    apply_retention(settings, now=now(), dry_run=True)
    assert client.list_objects_v2(Bucket=settings.s3.bucket, Prefix=f"prod/redis/{old}/")["KeyCount"] == 2
    _, result = apply_retention(settings, now=now())
    assert [d.set_id for d in result.deleted] == [f"redis/{old}"]
    assert client.list_objects_v2(Bucket=settings.s3.bucket, Prefix=f"prod/redis/{old}/")["KeyCount"] == 0
    assert client.list_objects_v2(Bucket=settings.s3.bucket, Prefix=f"prod/redis/{recent}/")["KeyCount"] == 2
    assert client.list_objects_v2(Bucket=settings.s3.bucket, Prefix="other/")["KeyCount"] == 1


def test_local_storage_refuses_paths_outside_root(tmp_path):
    from console.retention.storage import LocalStorage, StorageError

    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    with pytest.raises(StorageError, match="outside"):
        LocalStorage(tmp_path / "backups").delete("../outside.txt")
    assert outside.exists()


def test_old_wal_segments_are_reported_not_deleted(backup_dir, make_settings, tmp_path):
    wal = tmp_path / "wal"
    wal.mkdir()
    segment = wal / "000000010000000000000001"
    segment.write_bytes(b"w" * 1024)
    old = now().timestamp() - 2 * 86400
    os.utime(segment, (old, old))
    (wal / "000000010000000000000002").write_bytes(b"w" * 1024)
    plans = plan_retention(make_settings(**{"postgres.wal_archive_dir": str(wal)}), now=now())
    assert any("1 segment(s) older than 1 d" in note for note in plans.local.notes)
    apply_retention(make_settings(**{"postgres.wal_archive_dir": str(wal)}), now=now())
    assert segment.exists()


def test_symlinked_kind_directory_is_cleaned_in_place(backup_dir, make_settings, tmp_path):
    elsewhere = tmp_path / "volume2" / "redis"
    elsewhere.mkdir(parents=True)
    backup_dir.mkdir()
    (backup_dir / "redis").symlink_to(elsewhere)
    for days in (1, 2, 3, 20):
        make_set(backup_dir, "redis", stamp_days_ago(days), status="passed")
    _, result = apply_retention(make_settings(), now=now())
    assert [d.set_id for d in result.deleted] == [f"redis/{stamp_days_ago(20)}"] and not result.errors
    assert not list(elsewhere.glob(f"*{stamp_days_ago(20)}*")) and len(list(elsewhere.iterdir())) == 9


def test_the_shipped_policy_is_the_manuals_table(make_settings):
    policy = load_policy(make_settings())
    assert policy.source == "shipped policy" and policy.rule("rabbitmq").archive_days == 365
    assert [rule.kind for rule in policy.rules.values()] == ["postgres", "postgres-wal", "redis", "rabbitmq", "config",
                                                             "certs"]
