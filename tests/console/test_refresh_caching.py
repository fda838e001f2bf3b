"""The dashboard's refresh at scale: what did not change is not read again, what changed is shown.

Counted, never timed: parses of metadata and of reports, walks of the kind directories.
"""

from __future__ import annotations

import json
import os
import time

import pytest

import console.catalog as catalog
from console.monitor import collect
from console.verify import state
from console.verify.state import reported_sets, target_states
from console.backup_summary import scan_backups


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def ours(kind, names):
    return json.dumps({"producer": "backup-console 0.1.0", "kind": kind, "verification_status": "passed",
                       "artifacts": [{"name": name, "sha256": "0" * 64, "size_bytes": 1} for name in names]})


def age(*paths, seconds=60):
    """Date files and directories back, so that the caches (which distrust fresh mtimes) may keep them."""
    stamp = time.time() - seconds
    for path in paths:
        os.utime(path, (stamp, stamp))


@pytest.fixture
def counted(monkeypatch):
    """Every metadata parse and every directory walk of the catalog, counted; fresh ctimes trusted."""
    counts = {"parses": 0, "walks": 0}
    parse, walk = catalog.parse_metadata, catalog._walk

    def counting_parse(raw, name):
        counts["parses"] += 1
        return parse(raw, name)

    def counting_walk(root, subdirs):
        counts["walks"] += 1
        return walk(root, subdirs)

    monkeypatch.setattr(catalog, "parse_metadata", counting_parse)
    monkeypatch.setattr(catalog, "_walk", counting_walk)
    monkeypatch.setattr(catalog, "_SETTLED_NS", 0)  # utime cannot set ctime: trust what a test dated back
    catalog._CACHE.clear()
    catalog._SEEN_METADATA.clear()
    catalog._OURS.clear()
    return counts


def make_sets(backup_dir, stamps):
    files = []
    for stamp in stamps:
        files.append(write(backup_dir / "redis" / f"snapshot_{stamp}.rdb.gz", "x"))
        files.append(write(backup_dir / "redis" / f"snapshot_{stamp}.json", ours("redis", [f"snapshot_{stamp}.rdb.gz"])))
        files.append(write(backup_dir / "certs" / f"certificates_{stamp}.tar.gz.enc", "x"))
        files.append(write(backup_dir / "certs" / f"cert_inventory_{stamp}.json", '{"timestamp": "legacy"}'))
    age(*files, backup_dir / "redis", backup_dir / "certs")


def test_a_refresh_with_nothing_changed_parses_no_metadata_and_walks_no_directory(make_settings, backup_dir, counted):
    make_sets(backup_dir, ["20261201_020000", "20261202_020000", "20261203_020000"])
    settings = make_settings()
    first = scan_backups(settings, probes={}, now=time.time())
    assert counted["parses"] > 0 and counted["walks"] == 2
    counted.update(parses=0, walks=0)
    again = scan_backups(settings, probes={}, now=time.time())
    assert counted == {"parses": 0, "walks": 0}
    assert again.targets == first.targets and again.findings == first.findings


def test_a_refresh_after_a_new_set_appears_shows_it(make_settings, backup_dir, counted):
    make_sets(backup_dir, ["20261201_020000"])
    settings = make_settings()
    assert [s.set_id for s in target_states(settings)] == ["redis/20261201_020000", "certs/20261201_020000"]
    make_sets(backup_dir, ["20261202_020000"])
    age(backup_dir / "redis", backup_dir / "certs", seconds=30)  # a new mtime, however coarse the clock
    counted.update(parses=0, walks=0)
    assert [s.set_id for s in target_states(settings)] == ["redis/20261202_020000", "certs/20261202_020000"]
    assert counted["walks"] == 2 and counted["parses"] == 2  # the two new newest sets only


def test_metadata_rewritten_in_place_is_read_again(make_settings, backup_dir, counted):
    make_sets(backup_dir, ["20261201_020000"])
    settings = make_settings()
    (redis_state,) = [s for s in target_states(settings) if s.kind == "redis"]
    assert redis_state.verification == "verified"
    metadata = backup_dir / "redis" / "snapshot_20261201_020000.json"
    metadata.write_text(metadata.read_text().replace('"passed"', '"failed"'))
    (redis_state,) = [s for s in target_states(settings) if s.kind == "redis"]
    assert redis_state.verification == "failed"


def test_the_monitor_asks_each_legacy_set_once_while_it_is_unchanged(make_settings, backup_dir, counted):
    make_sets(backup_dir, [f"202612{day:02d}_020000" for day in range(1, 21)])
    settings = make_settings(**{"alerts.scheduled_kinds": ["certs"]})
    collect(settings, probes={}, certificates=False)
    assert counted["parses"] >= 20
    counted.update(parses=0)
    collect(settings, probes={}, certificates=False)
    assert counted["parses"] == 0


def report(name, set_ids, status="passed"):
    return json.dumps({"schema": "backup-console/verify-report/1", "report": name, "status": status,
                       "started_at": "2026-12-01T03:00:00+00:00", "finished_at": "2026-12-01T03:10:00+00:00",
                       "duration_seconds": 600.0, "deep": False, "kinds": ["redis"],
                       "summary": {"sets": len(set_ids), "sets_failed": 0, "sets_warning": 0, "passed": 1,
                                   "failed": 0, "warnings": 0, "skipped": 0},
                       "sets": [{"set_id": set_id, "status": status, "checks": []} for set_id in set_ids]}, indent=2)


def test_reports_not_naming_a_wanted_set_are_not_parsed(make_settings, backup_dir, monkeypatch):
    reports = backup_dir / "reports"
    write(reports / "backup_verification_20261203_030000.json", report("newest", ["redis/20261203_020000"]))
    write(reports / "backup_verification_20261202_030000.json", report("middle", ["redis/20261201_020000"], "failed"))
    write(reports / "backup_verification_20261201_030000.json", report("oldest", ["redis/20261201_020000"]))
    parsed, looked_up = [], []
    loads, named_entries = json.loads, state.reports.named_entries
    monkeypatch.setattr(state.json, "loads", lambda raw, **kw: parsed.append(len(raw)) or loads(raw, **kw))
    monkeypatch.setattr(state.reports, "named_entries",
                        lambda raw, ids: looked_up.append(list(ids)) or named_entries(raw, ids))
    settings = make_settings()
    wanted = reported_sets(settings, wanted=["redis/20261201_020000"])
    assert wanted == {"redis/20261201_020000": ("failed", "2026-12-01T03:10:00+00:00", "middle")}
    assert looked_up == [["redis/20261201_020000"]]  # the newest does not name it, the oldest is never reached
    assert not set(parsed) & {len(path.read_bytes()) for path in reports.iterdir()}  # and none is parsed whole
    assert reported_sets(settings)["redis/20261201_020000"][2] == "middle"  # the same answer as reading all
    parsed.clear()
    looked_up.clear()
    assert reported_sets(settings, wanted=["redis/20261201_020000"]) == wanted
    assert parsed == [] and looked_up == []  # unchanged files: remembered


def test_a_reports_entries_read_alone_are_what_a_whole_parse_finds(backup_dir):
    from console.verify.reports import named_entries

    ids = ["redis/20261201_020000", "redis/20261202_020000", "postgres/app/20261202_020000"]
    text = report("r", ids[:2] + ["redis/20261201_020000"], "warning")
    whole = json.loads(text)
    head, entries = named_entries(text.encode(), ids[:2])
    assert head == {key: value for key, value in whole.items() if key != "sets"}
    assert entries == {set_id: next(item for item in whole["sets"] if item["set_id"] == set_id) for set_id in ids[:2]}
    assert named_entries(text.encode(), ids) is None  # an id the list does not hold: only a whole parse can say
    assert named_entries(text[: len(text) - 40].encode(), ids[:1]) is None  # cut short: parsed whole (and skipped)
    compact = json.dumps(whole, separators=(",", ":"))
    assert named_entries(compact.encode(), ids[:1]) is None  # another layout: parsed whole


def test_the_report_list_reads_heads_and_still_skips_a_truncated_report(make_settings, backup_dir):
    from console.verify.reports import list_reports, report_head

    reports = backup_dir / "reports"
    whole = write(reports / "backup_verification_20261202_030000.json", report("whole", ["redis/20261201_020000"]))
    text = report("cut", ["redis/20261201_020000", "redis/20261202_020000"])
    write(reports / "backup_verification_20261201_030000.json", text[: len(text) // 2 + 40])
    assert [item.name for item in list_reports(make_settings())] == ["whole"]
    assert report_head(whole) == {key: value for key, value in json.loads(whole.read_text()).items() if key != "sets"}
