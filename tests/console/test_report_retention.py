"""Retention of verification reports (BACKUP_DIR/reports) on real report files: the plan, the
confirmation, the dry run, what is kept whatever its age, and the CLI preview and apply."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from console.catalog import KINDS
from console.cli import main
from console.errors import ConfigError, ConsoleError
from console.retention.apply import apply_retention, plan_retention
from console.retention.state import overview
from console.runlog import read_runs
from console.verify import reports
from console.verify.state import reported_sets
from tests.report_fixtures import KEPT, REMOVED, existing, files_of, history, write_run
from tests.retention_fixtures import now

pytestmark = pytest.mark.usefixtures("utc")  # report names carry local time


def test_plan_lists_old_reports_and_keeps_the_newest_per_kind(make_settings):
    settings = make_settings()
    names = history(settings, now())
    plans = plan_retention(settings, now=now())
    assert {item.name for item in plans.report_removals} == {names[key] for key in REMOVED}
    kept = {item.name: item.reasons for item in plans.reports.keep}
    assert set(kept) == {names[key] for key in KEPT}
    assert kept[names["certs_only_200d"]] == ("newest for certs",)
    assert kept[names["rabbitmq_120d"]] == ("newest for rabbitmq",)
    assert kept[names["config_30d"]] == ("newest for config", "within 90 d")
    assert kept[names["newest_2d"]] == ("newest report", "newest for postgres, redis", "within 90 d")
    assert kept[names["young_10d"]] == ("within 90 d",)
    removal = next(item for item in plans.report_removals if item.name == names["old_100d"])
    assert removal.rule == "reports 90 d" and removal.reasons == ("age 100.0 d > 90 d",)
    assert removal.files == (f"{names['old_100d']}.report", f"{names['old_100d']}.json")
    assert removal.size_bytes == sum(path.stat().st_size for path in files_of(settings, names["old_100d"]))
    assert plans.removals == []  # reports are their own category, not backup sets
    document = plans.as_json()
    assert document["reports_to_remove"] == 5 and document["sets_to_remove"] == 0
    assert document["freed_bytes"] == document["reports"]["freed_bytes"] > 0
    assert existing(settings, names) == set(names)  # planning reads only


def test_apply_deletes_exactly_the_plan_and_the_browser_still_works(make_settings):
    settings = make_settings()
    names = history(settings, now())
    reported_before = reported_sets(settings)
    plans, result = apply_retention(settings, now=now())
    assert not result.errors
    assert {item.name for item in result.deleted_reports} == {names[key] for key in REMOVED}
    assert existing(settings, names) == KEPT
    assert all(path.exists() for key in KEPT for path in files_of(settings, names[key]))  # pairs stay whole
    directory = reports.report_dir(settings)
    assert (directory / "notes.txt").exists() and len(list(directory.glob("*.txt"))) == 2  # not ours: untouched
    # what the report browser and the dashboard read is unchanged
    assert reports.list_reports(settings)[0].name == names["newest_2d"]
    assert reports.load_report(settings, "latest").report_name == names["newest_2d"]
    kept_names = {names[key] for key in KEPT}
    reported = reported_sets(settings)
    assert reported == {set_id: found for set_id, found in reported_before.items() if found[2] in kept_names}
    assert {set_id.split("/")[0] for set_id in reported} == set(KINDS)  # every kind's newest report stays
    record = next(run for run in read_runs(settings.backup_dir) if run.action == "retention" and run.kind == "reports")
    assert record.status == "ok" and {item["report"] for item in record.extra["deleted"]} == {names[k] for k in REMOVED}
    again, second = apply_retention(settings, now=now())
    assert not again.report_removals and not second.deleted_reports


def test_dry_run_removes_nothing(make_settings):
    settings = make_settings()
    names = history(settings, now())
    before = sorted(reports.report_dir(settings).iterdir())
    _plans, result = apply_retention(settings, now=now(), dry_run=True)
    assert result.dry_run and {item.name for item in result.deleted_reports} == {names[key] for key in REMOVED}
    assert sorted(reports.report_dir(settings).iterdir()) == before
    assert not [run for run in read_runs(settings.backup_dir) if run.action == "retention"]


def test_confirmed_report_count_must_match(make_settings):
    settings = make_settings()
    names = history(settings, now())
    with pytest.raises(ConsoleError, match="removes 5 reports, not the 2 confirmed"):
        apply_retention(settings, now=now(), expected_sets=0, expected_reports=2)
    assert existing(settings, names) == set(names)
    _plans, result = apply_retention(settings, now=now(), expected_sets=0, expected_reports=5)
    assert len(result.deleted_reports) == 5


def test_newest_report_survives_however_old(make_settings):
    settings = make_settings(**{"retention.report_days": 7})
    only = write_run(settings, now() - timedelta(days=365), ("redis",))
    empty = write_run(settings, now() - timedelta(days=300), ())  # a run over no sets: newest overall
    older = write_run(settings, now() - timedelta(days=400), ("redis",))
    plans, result = apply_retention(settings, now=now())
    assert [item.name for item in result.deleted_reports] == [older]
    assert {item.name: item.reasons for item in plans.reports.keep} == {
        empty: ("newest report",), only: ("newest for redis",)}
    assert reports.list_reports(settings)[0].name == empty


def test_report_days_is_a_documented_positive_setting(tmp_path, make_settings):
    from console.config import load_settings

    assert make_settings().retention.report_days == 90
    config = tmp_path / "c.yaml"
    config.write_text("retention:\n  report_days: 0\n")
    with pytest.raises(ConfigError, match="'retention.report_days' must be greater than 0"):
        load_settings(config, env={})
    settings = make_settings(**{"retention.report_days": 1})
    names = history(settings, now())
    removed = {item.name for item in plan_retention(settings, now=now()).report_removals}
    assert names["config_30d"] not in removed  # still the newest with config
    assert names["newest_2d"] not in removed


def test_retention_state_has_a_reports_category(make_settings):
    settings = make_settings()
    history(settings, now())
    state = overview(settings, now=now())
    assert state.reports is not None and state.reports.kind == "reports"
    assert (state.reports.local_count, state.reports.to_remove, state.reports_to_remove) == (10, 5, 5)
    assert state.reports.oldest == (now() - timedelta(days=300)).strftime("%Y%m%d_%H%M%S")  # the orphan .report
    assert state.reports.newest == (now() - timedelta(days=2)).strftime("%Y%m%d_%H%M%S")
    assert state.reports.freed_bytes == sum(item.size_bytes for item in state.plans.report_removals) > 0
    # the next to go is the one kept only for its age; the protected ones stay past 90 d
    assert state.reports.next_expiry == (now() + timedelta(days=80)).strftime("%Y-%m-%d %H:%M")
    assert json.loads(json.dumps(state.as_json()))["reports"]["to_remove"] == 5


# --- the CLI ------------------------------------------------------------------------------------


@pytest.fixture
def cli_history(backup_dir, make_settings, monkeypatch):
    """The same history dated from the real clock (the CLI plans at the current time)."""
    monkeypatch.setenv("BACKUP_DIR", str(backup_dir))
    settings = make_settings()
    return settings, history(settings, datetime.now().astimezone())


def test_cli_plan_shows_reports_as_their_own_category(cli_history, capsys):
    settings, names = cli_history
    assert main(["retention", "plan"]) == 0
    out = capsys.readouterr().out
    section = out[out.index("verification reports:"):]
    assert "retention.report_days 90 d" in section
    for key in REMOVED:
        assert f"REMOVE  {names[key]}" in section
    assert "newest for certs" in section and "newest for rabbitmq" in section
    assert "remove 5 report(s)" in section and "keep 5 (4 the newest of a kind or overall, 1 within 90 d)" in section
    assert main(["retention", "plan", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["reports_to_remove"] == 5
    assert {item["name"] for item in document["reports"]["remove"]} == {names[key] for key in REMOVED}
    assert {item["name"] for item in document["reports"]["keep"]} == {names[key] for key in KEPT}
    assert existing(settings, names) == set(names)


def test_cli_apply_needs_yes_then_deletes(cli_history, capsys):
    settings, names = cli_history
    assert main(["retention", "apply"]) == 2
    captured = capsys.readouterr()
    assert "would remove 0 set(s) and 5 report(s); nothing was deleted" in captured.err
    assert "REMOVE" in captured.out
    assert existing(settings, names) == set(names)

    assert main(["--read-only", "retention", "apply", "--yes"]) == 2
    assert "read-only" in capsys.readouterr().err
    assert existing(settings, names) == set(names)

    assert main(["retention", "apply", "--dry-run", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["result"]["dry_run"] and len(document["result"]["deleted_reports"]) == 5
    assert existing(settings, names) == set(names)

    assert main(["retention", "apply", "--yes"]) == 0
    assert "removed 0 set(s) and 5 report(s)" in capsys.readouterr().out
    assert existing(settings, names) == KEPT


def test_cli_policy_names_the_report_setting(capsys):
    assert main(["retention", "policy"]) == 0
    assert "verification reports: 90 d locally (retention.report_days)" in capsys.readouterr().out


# --- a real verification run --------------------------------------------------------------------


def test_a_real_report_is_kept_and_old_ones_go(redis_server, make_settings):
    from tests.verify_fixtures import our_backup

    from console.verify.run import verify

    redis_server.client().set("a", "1")
    settings = make_settings(redis_server.overrides())
    backup_set = our_backup(settings, "redis")
    real = verify(settings).report_name
    current = datetime.now().astimezone()
    old = write_run(settings, current - timedelta(days=120), ("redis",))
    older = write_run(settings, current - timedelta(days=130), KINDS)
    _plans, result = apply_retention(settings)
    assert {item.name for item in result.deleted_reports} == {old}
    assert all(path.exists() for path in files_of(settings, real))
    assert all(path.exists() for path in files_of(settings, older))  # still the newest with postgres, certs ...
    assert not any(path.exists() for path in files_of(settings, old))
    assert reported_sets(settings)[backup_set.set_id][2] == real
    assert reports.load_report(settings, "latest").report_name == real
