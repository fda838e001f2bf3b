"""Every restore runs inside runner.restore_run: read-only guard, one lock per target, a run-log record."""

from __future__ import annotations

import pytest

from console.catalog import scan
from console.errors import ConsoleError, LockHeld, ReadOnlyRefused, VerifyFailed
from console.kinds.config.restore import restore_config
from console.runlog import read_runs
from console.runner import restore_run
from tests.console.test_config_backup import app_tree, backup, config_settings  # noqa: F401 - fixtures


def test_a_restore_records_its_run_ok_and_failed(config_settings, backup_dir, tmp_path) -> None:  # noqa: F811
    settings = config_settings()
    set_id = backup(settings).set_id
    backup_set = scan(backup_dir, ["config"]).find(set_id)
    restore_config(settings, backup_set, tmp_path / "restored")
    tarball = backup_set.file("tarball").path
    tarball.write_bytes(tarball.read_bytes()[:-10])
    with pytest.raises(VerifyFailed):
        restore_config(settings, backup_set, tmp_path / "again")
    ok, failed = [run for run in read_runs(backup_dir) if run.action == "restore"]
    assert (ok.status, ok.kind, ok.set_id, ok.target) == ("ok", "config", set_id, str(tmp_path / "restored"))
    assert "restored into" in ok.message
    assert (failed.status, failed.target) == ("failed", str(tmp_path / "again")) and "sha256" in failed.message


def test_an_unexpected_error_is_recorded_and_still_raised(make_settings, backup_dir) -> None:
    settings = make_settings()
    with pytest.raises(ConsoleError) as caught, restore_run(settings, "redis", "redis/20261207_020000", "/data"):
        1 / 0  # noqa: B018 - any exception, not only ConsoleError
    [run] = read_runs(backup_dir)
    message = "restore of redis/20261207_020000 into /data failed: ZeroDivisionError: division by zero"
    assert (run.action, run.status, run.message) == ("restore", "failed", message) == ("restore", "failed", caught.value.message)
    assert isinstance(caught.value.__cause__, ZeroDivisionError)


def test_read_only_is_refused_inside_the_engine_before_anything_is_recorded(make_settings, backup_dir) -> None:
    with pytest.raises(ReadOnlyRefused), restore_run(make_settings(read_only=True), "postgres", "postgres/a/1", "a"):
        raise AssertionError("the restore body must not run")
    assert read_runs(backup_dir) == []


def test_two_restores_into_the_same_target_never_overlap(make_settings, backup_dir) -> None:
    settings = make_settings()
    with restore_run(settings, "postgres", "postgres/app/20261207_020000", "app_copy"):
        with pytest.raises(LockHeld, match="postgres restore into app_copy is already running"):
            with restore_run(settings, "postgres", "postgres/app/20261207_030000", "app_copy"):
                pass
        with restore_run(settings, "postgres", "postgres/app/20261207_030000", "other_db") as run:
            run.done("a different target is fine")
    statuses = [(run.target, run.status) for run in read_runs(backup_dir)]
    assert statuses == [("other_db", "ok"), ("app_copy", "failed")]
