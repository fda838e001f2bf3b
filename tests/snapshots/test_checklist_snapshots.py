"""Checklist and drill screens at 80x24, with time frozen and the automated items' evidence fixed."""

from __future__ import annotations


from console.checklists import ItemResult
from console.status import Status
from screens.app import BackupConsoleApp
from tests.screens.conftest import FROZEN_NOW, fixed_prober

FIXED_RESULTS = {
    "healthy": (Status.FAIL, "connection refused at 127.0.0.1:5432"),
    "disk_space": (Status.OK, "free 41.0 GB >= 2 x database size (3.2 GB)"),
    "destination_writable": (Status.OK, "/backups/postgres is writable"),
    "previous_backup": (Status.WARN, "last run failed 26 hours ago (pg_dump: connection refused)"),
    "long_transactions": (Status.OK, "oldest transaction 12 s (pid 4242, app)"),
    "s3_reachable": (Status.SKIP, "skipped: not uploading in this run"),
    "credentials": (Status.OK, "password for 'backup' from POSTGRES_PASSWORD"),
}


def fixed_evaluator(item, context) -> ItemResult:
    """Fixed evidence per item id, so the snapshot does not depend on the machine's services."""
    state, evidence = FIXED_RESULTS.get(item.id, (Status.OK, "fine"))
    return ItemResult(item.id, state, evidence)


async def _settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    pilot.app.screen.query_one("#gate-line")  # the screen is up


def _app(make_settings, screen: str, **kwargs) -> BackupConsoleApp:
    return BackupConsoleApp(make_settings(), clock=lambda: FROZEN_NOW, prober=fixed_prober(), start_screen=screen,
                            start_kwargs={"evaluator": fixed_evaluator, **kwargs})


def test_checklist_80x24(snap_compare, make_settings, monkeypatch):
    monkeypatch.setenv("USER", "alice")
    app = _app(make_settings, "checklist", service="postgres")
    assert snap_compare(app, terminal_size=(80, 24), run_before=_settle, press=["down"] * 7 + ["space"])


def test_drill_80x24(snap_compare, make_settings, monkeypatch):
    monkeypatch.setenv("USER", "alice")
    app = _app(make_settings, "drill", services=["postgres", "redis"], drill_name="Q4 drill",
               participants=["alice", "bob"])
    assert snap_compare(app, terminal_size=(80, 24), run_before=_settle, press=["down"] * 8 + ["space"])


def test_checklist_120x40(snap_compare, make_settings, monkeypatch):
    monkeypatch.setenv("USER", "alice")
    app = _app(make_settings, "checklist", service="postgres")
    assert snap_compare(app, terminal_size=(120, 40), run_before=_settle)


def test_checklist_80x24_no_color(snap_compare, make_settings, monkeypatch, no_color):
    test_checklist_80x24(snap_compare, make_settings, monkeypatch)


def test_drill_80x24_no_color(snap_compare, make_settings, monkeypatch, no_color):
    test_drill_80x24(snap_compare, make_settings, monkeypatch)
