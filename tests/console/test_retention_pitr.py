"""Retention of base backups and archived WAL as part of the retention plan, on synthetic files
(names and metadata as `backup postgres --physical` and `wal push` leave them). The end-to-end
test on a real archiving cluster, with restores, is tests/pitr/test_retention_wal.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.cli import main
from tests.retention_fixtures import build_pitr_tree, make_base, now, segment_name as _name, stamp_days_ago

pytestmark = pytest.mark.usefixtures("utc")

@pytest.fixture
def pitr_tree(backup_dir: Path, tmp_path: Path) -> dict:
    return build_pitr_tree(backup_dir, tmp_path)


@pytest.fixture
def settings_for(make_settings, pitr_tree):
    def build(**overrides):
        return make_settings({"postgres.wal_archive_dir": str(pitr_tree["archive"]), "retention.min_keep": 1},
                             **overrides)
    return build


def test_the_plan_removes_the_old_base_backup_and_the_wal_only_it_needed(settings_for, pitr_tree):
    from console.retention.apply import plan_retention

    plans = plan_retention(settings_for(), now(), offsite=False)
    pitr = plans.pitr
    assert pitr is not None and pitr.rule == "postgres"
    assert [d.set_id for d in pitr.remove] == [f"postgres/base/{pitr_tree['a']}"]
    assert pitr.remove[0].reasons == ("age 10.0 d > 7 d",) and pitr.remove[0].rule == "local 7 d"
    assert sorted(d.set_id for d in pitr.keep) == [f"postgres/base/{pitr_tree['b']}", f"postgres/base/{pitr_tree['c']}"]
    # A is removed in the same plan, so it protects nothing: B's start (segment 8) is the limit, on every timeline
    ranges = [(d.subject.timeline, d.subject.first, d.subject.last, d.subject.count) for d in pitr.wal_remove]
    assert ranges == [(1, _name(1, 1), _name(1, 7), 8), (3, _name(3, 6), _name(3, 7), 2)]
    reason = pitr.wal_remove[0].reasons[0]
    assert reason == (f"8 file(s), older than the start of the oldest kept base backup postgres/base/{pitr_tree['b']} "
                      f"({_name(1, 8)})")
    assert pitr.wal_files_to_remove == plans.wal_files_to_remove == 10
    assert pitr.wal.keep_files == 4 + 6 + 1 and pitr.wal.history_files == 2
    first_range = [p for p in pitr_tree["archive"].iterdir() if p.name[:24] <= _name(1, 7) and p.name[:8] == "00000001"]
    assert pitr.wal_remove[0].size_bytes == sum(p.stat().st_size for p in first_range) and len(first_range) == 16
    assert 2.9 < pitr.wal_remove[0].age_days < 3.1
    document = plans.as_json()
    assert document["wal_files_to_remove"] == 10 and document["base_backups_to_remove"] == 1
    wal = document["pitr"]["wal"]
    assert wal["oldest_needed_segment"] == _name(1, 8) and wal["protected_by"] == f"postgres/base/{pitr_tree['b']}"
    assert wal["remove"][0]["first"] == _name(1, 1) and wal["remove"][0]["count"] == 8
    assert document["freed_bytes"] == plans.freed_bytes > pitr.wal.bytes_to_remove


def test_min_keep_keeps_every_base_backup_and_so_their_wal(make_settings, pitr_tree):
    from console.retention.apply import plan_retention

    plans = plan_retention(make_settings({"postgres.wal_archive_dir": str(pitr_tree["archive"])}), now(), offsite=False)
    assert not plans.base_removals
    assert [(d.subject.first, d.subject.last) for d in plans.wal_removals] == [(_name(1, 1), _name(1, 2))]
    assert all("min_keep" in ", ".join(d.reasons) for d in plans.pitr.keep)


def test_a_base_backup_on_another_timeline_protects_its_segments(settings_for, pitr_tree, backup_dir):
    from console.retention.apply import plan_retention

    make_base(backup_dir, 0.5, 3, 6)  # the dead branch got a base backup of its own: TL3 6.. is needed again
    plans = plan_retention(settings_for(), now(), offsite=False)
    assert [(d.subject.timeline, d.subject.first, d.subject.last) for d in plans.wal_removals] == \
        [(1, _name(1, 1), _name(1, 5))]


@pytest.mark.parametrize("damage", ["unreadable metadata", "no start_lsn"])
def test_nothing_is_removed_while_a_base_backup_cannot_be_read(settings_for, pitr_tree, backup_dir, damage):
    from console.retention.apply import plan_retention

    if damage == "unreadable metadata":
        broken = backup_dir / "postgres" / "base" / stamp_days_ago(20)
        broken.mkdir()
        (broken / "backup.json").write_text("{not json")
    else:
        path = backup_dir / "postgres" / "base" / pitr_tree["a"] / "backup.json"
        document = json.loads(path.read_text())
        del document["start_lsn"]
        path.write_text(json.dumps(document))
    plans = plan_retention(settings_for(), now(), offsite=False)
    assert not plans.wal_removals and not plans.base_removals
    assert any("no WAL is removed while base backups cannot all be read" in note for note in plans.pitr.notes)


def test_no_wal_is_removed_without_a_kept_base_backup(pitr_tree):
    from console.pitr.prune import select_wal

    selection = select_wal(pitr_tree["archive"], [])
    assert not selection.remove and selection.refused == "no base backup is kept: every archived WAL file is kept"


def test_base_backups_of_different_clusters_stop_wal_pruning(settings_for, pitr_tree, backup_dir):
    from console.retention.apply import plan_retention

    make_base(backup_dir, 0.5, 1, 9, system="7399999999999999999")
    plans = plan_retention(settings_for(), now(), offsite=False)
    assert not plans.wal_removals and "different clusters" in " ".join(plans.pitr.notes)


def test_apply_previews_refuses_and_then_deletes_exactly_the_plan(settings_for, pitr_tree, backup_dir, monkeypatch,
                                                                  capsys):
    from console.runlog import read_runs

    config = backup_dir.parent / "config.yaml"
    config.write_text(f"backup_dir: {backup_dir}\npostgres:\n  wal_archive_dir: {pitr_tree['archive']}\n"
                      f"retention:\n  min_keep: 1\n")
    archive = pitr_tree["archive"]
    before = sorted(p.name for p in archive.iterdir())
    monkeypatch.setattr("console.retention.apply.datetime", _FrozenDatetime)
    argv = ["retention", "--config", str(config)]
    assert main(["retention", "plan", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"WAL {_name(1, 1)}..{_name(1, 7)}" in out
    assert "pitr: 8 file(s), older than the start of the oldest kept base backup" in out
    assert "keep 11 WAL file(s)" in out and "2 timeline history file(s) always kept" in out
    assert "remove 1 base backup(s) and 10 WAL file(s) in 2 range(s)" in out
    assert main(["retention", "apply", "--config", str(config)]) == 2
    assert "1 base backup(s), 10 WAL file(s)" in capsys.readouterr().err
    assert main(["--read-only", "retention", "apply", "--yes", "--config", str(config)]) == 2
    assert main(["retention", "apply", "--dry-run", "--json", "--config", str(config)]) == 0
    dry = json.loads(capsys.readouterr().out)["result"]
    assert dry["dry_run"] is True and dry["deleted_wal_files"] == 10
    assert sorted(p.name for p in archive.iterdir()) == before
    assert (backup_dir / "postgres" / "base" / pitr_tree["a"]).is_dir()
    assert main(["retention", "apply", "--yes", "--json", "--config", str(config)]) == 0
    result = json.loads(capsys.readouterr().out)["result"]
    assert result["deleted_base_backups"] == [f"postgres/base/{pitr_tree['a']}"] and result["deleted_wal_files"] == 10
    gone = {_name(1, n) for n in range(1, 8)} | {_name(3, 6), _name(3, 7), f"{_name(1, 3)}.00000028.backup"}
    after = sorted(p.name for p in archive.iterdir())
    assert after == sorted(name for name in before if name.removesuffix(".zst").removesuffix(".sha256") not in gone)
    assert "00000002.history" in after and f".{_name(1, 2)}.4242.tmp" in after and "README" in after
    assert not (backup_dir / "postgres" / "base" / pitr_tree["a"]).exists()
    runs = {run.kind: run for run in read_runs(backup_dir) if run.action == "retention"}
    assert runs["postgres-wal"].message.startswith("removed 10 WAL file(s) in 2 range(s)")
    assert runs["postgres-wal"].extra["deleted"][0]["first"] == _name(1, 1)
    assert runs["postgres-base"].extra["deleted"][0]["set_id"] == f"postgres/base/{pitr_tree['a']}"
    assert main([*argv[:1], "apply", "--config", str(config)]) == 0  # nothing left to confirm
    assert "nothing to delete" in capsys.readouterr().out


def test_apply_refuses_when_the_wal_count_changed_since_confirmation(settings_for, pitr_tree):
    from console.errors import ConsoleError
    from console.retention.apply import apply_retention

    before = sorted(p.name for p in pitr_tree["archive"].iterdir())
    with pytest.raises(ConsoleError, match="the plan now removes 10 WAL files, not the 9 confirmed"):
        apply_retention(settings_for(), now(), expected_sets=None, expected_bases=1, expected_wal_files=9,
                        offsite=False)
    assert sorted(p.name for p in pitr_tree["archive"].iterdir()) == before


def test_wal_prune_shares_the_selection(settings_for, pitr_tree, backup_dir):
    from console.pitr.prune import plan_wal_prune

    plan = plan_wal_prune(backup_dir, pitr_tree["archive"])  # every base backup kept: A's start (3) is the limit
    names = sorted({item.path.name.removesuffix(".zst").removesuffix(".sha256") for item in plan.remove_wal})
    assert names == [_name(1, 1), _name(1, 2)]
    plan = plan_wal_prune(backup_dir, pitr_tree["archive"], keep_base=1)
    names = {item.path.name.removesuffix(".zst").removesuffix(".sha256") for item in plan.remove_wal}
    assert {_name(3, 9), _name(2, 11)} <= names and _name(2, 12) not in names  # only C (TL2 from 12) is kept


class _FrozenDatetime:
    """``datetime.now()`` at the fixtures' NOW in console.retention.apply (the CLI plans with no clock)."""

    @staticmethod
    def now(tz=None):  # noqa: ANN001, ANN205
        return now() if tz is None else now().astimezone(tz)

    fromisoformat = staticmethod(__import__("datetime").datetime.fromisoformat)


def test_a_named_instance_base_backups_and_wal_are_planned_and_applied_as_its_own(backup_dir, pitr_tree, monkeypatch,
                                                                               capsys):
    """The same tree as postgres@analytics's: its plan is its own (set ids, WAL decisions, JSON) and
    apply deletes exactly it; the default instance has none."""
    (backup_dir / "postgres").rename(backup_dir / "postgres@analytics")
    archive = pitr_tree["archive"]
    config = backup_dir.parent / "config.yaml"
    config.write_text(f"backup_dir: {backup_dir}\npostgres:\n  instances:\n    default: {{}}\n"
                      f"    analytics: {{wal_archive_dir: {archive}}}\nretention:\n  min_keep: 1\n")
    monkeypatch.setattr("console.retention.apply.datetime", _FrozenDatetime)
    assert main(["retention", "plan", "--json", "--config", str(config)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["pitr"] is None
    (named,) = document["pitr_instances"]
    assert named["instance"] == "analytics" and named["base_dir"] == str(backup_dir / "postgres@analytics" / "base")
    assert [item["set_id"] for item in named["base_backups"]["remove"]] == [f"postgres/analytics/base/{pitr_tree['a']}"]
    assert named["wal"]["protected_by"] == f"postgres/analytics/base/{pitr_tree['b']}"
    assert document["base_backups_to_remove"] == 1 and document["wal_files_to_remove"] == 10
    assert main(["retention", "plan", "--config", str(config)]) == 0
    assert "point-in-time recovery of postgres/analytics: base backups in" in capsys.readouterr().out
    assert main(["retention", "apply", "--yes", "--json", "--config", str(config)]) == 0
    result = json.loads(capsys.readouterr().out)["result"]
    assert result["deleted_base_backups"] == [f"postgres/analytics/base/{pitr_tree['a']}"]
    assert result["deleted_wal_files"] == 10
    assert not (backup_dir / "postgres@analytics" / "base" / pitr_tree["a"]).exists()
    assert (backup_dir / "postgres@analytics" / "base" / pitr_tree["b"]).is_dir()
    assert "00000002.history" in {p.name for p in archive.iterdir()}


@pytest.mark.parametrize("own, removed", [("{local_days: 3}", ["a", "b"]), ("{min_keep: 3}", [])])
def test_a_named_instance_own_retention_applies_to_its_base_backups(backup_dir, pitr_tree, monkeypatch, capsys, own,
                                                                     removed):
    """``instances.analytics.retention`` overrides the policy for that instance's sets: its base
    backups are its sets too (the global rule would remove only A, 10 days old, past 7)."""
    (backup_dir / "postgres").rename(backup_dir / "postgres@analytics")
    config = backup_dir.parent / "config.yaml"
    config.write_text(f"backup_dir: {backup_dir}\npostgres:\n  instances:\n    default: {{}}\n"
                      f"    analytics:\n      wal_archive_dir: {pitr_tree['archive']}\n      retention: {own}\n"
                      "retention:\n  min_keep: 1\n")
    monkeypatch.setattr("console.retention.apply.datetime", _FrozenDatetime)
    assert main(["retention", "plan", "--json", "--config", str(config)]) == 0
    (named,) = json.loads(capsys.readouterr().out)["pitr_instances"]
    assert sorted(item["set_id"] for item in named["base_backups"]["remove"]) == \
        [f"postgres/analytics/base/{pitr_tree[key]}" for key in removed]
