"""The backup screen with Pilot against a real PostgreSQL: pick, pre-flight, run, summary, cancel."""

from __future__ import annotations

from textual.widgets import DataTable, RichLog, Static

from screens.app import BackupConsoleApp
from screens.backup import BackupScreen
from tests.postgres_fixtures import TableLock, pg_seed_template, processes_named, seeded_db  # noqa: F401
from tests.screens.conftest import fixed_prober, frozen_clock, wait_until, widget_text


def _app(settings, **start):
    return BackupConsoleApp(settings, clock=frozen_clock, prober=fixed_prober(), start_screen="backup",
                            start_kwargs=start)


def _text(screen, selector) -> str:
    return str(screen.query_one(selector, Static).render())


async def test_backup_screen_runs_through_to_the_summary(pg_cluster, seeded_db, make_settings, backup_dir):
    settings = make_settings(pg_cluster.overrides(seeded_db))
    app = _app(settings, kind="postgres", target=seeded_db)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, BackupScreen)
        await wait_until(pilot, lambda: screen.checks is not None)
        table = screen.query_one("#backup-checks", DataTable)
        states = {str(row.key.value): table.get_row(row.key)[0] for row in table.ordered_rows}
        assert states["postgres.healthy"] == "PASS" and states["common.s3_reachable"] == "SKIP"
        assert "b starts the backup" in _text(screen, "#backup-status")
        await pilot.press("b")
        await wait_until(pilot, lambda: screen.job is not None and not screen.job.running, timeout=60)
        await wait_until(pilot, lambda: screen.query_one("#backup-summary").display)
        summary = _text(screen, "#backup-summary")
        result = screen.job.result
        assert result is not None and result.ok, screen.job.error
        assert summary.startswith(f"OK: postgres backup of {seeded_db}")
        assert result.set_id in summary and f"where: {backup_dir / 'postgres'}" in summary
        for info in result.files:
            assert info.name in summary and info.sha256[:12] in summary
        assert "OK after" in _text(screen, "#backup-status")
        logged = "\n".join(str(line.text) for line in screen.query_one("#backup-log", RichLog).lines)
        assert 'dumping contents of table "sales.orders"' in logged
        assert {"preflight", "dump", "metadata"} <= {row.phase for row in screen.query(".phase-row")}
        assert not table.display  # the result has the room now
        await pilot.press("r")  # re-check: back to the checks, the result put away
        await wait_until(pilot, lambda: screen.checks is not None and table.display)
        assert not screen.query_one("#backup-summary").display and not screen.query_one("#backup-log").display


async def test_cancel_asks_first_and_leaves_nothing(pg_cluster, seeded_db, make_settings, backup_dir):
    settings = make_settings(pg_cluster.overrides(seeded_db))
    app = _app(settings, kind="postgres", target=seeded_db)
    lock = TableLock(pg_cluster, seeded_db)  # holds pg_dump mid-way
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await wait_until(pilot, lambda: screen.checks is not None)
            await pilot.press("b")
            await wait_until(pilot, lambda: bool(processes_named("pg_dump", f"port='{pg_cluster.port}'")), timeout=30)
            await pilot.press("x")
            await wait_until(pilot, lambda: app.screen is not screen)
            await pilot.press("n")  # changed my mind: keeps running
            await pilot.pause(0.3)
            assert screen.job.running and app.screen is screen
            await pilot.press("x")
            await wait_until(pilot, lambda: app.screen is not screen)
            await pilot.press("y")
            await wait_until(pilot, lambda: not screen.job.running, timeout=30)
            await wait_until(pilot, lambda: screen.query_one("#backup-summary").display)
            assert screen.job.result.status == "cancelled"
            assert _text(screen, "#backup-summary").startswith("CANCELLED:")
    finally:
        lock.release()
    assert not [p for p in (backup_dir / "postgres").rglob("*") if p.is_file()]


async def test_failing_preflight_needs_an_override_reason(own_pg_cluster, make_settings):
    settings = make_settings(own_pg_cluster.overrides())
    own_pg_cluster.stop()
    app = _app(settings, kind="postgres", target="postgres")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.checks is not None)
        assert "pre-flight FAILED" in _text(screen, "#backup-status")
        assert screen.query_one("#backup-checks").has_class("-fail")
        # the table cuts evidence at 80 columns; the failing check's whole evidence is under it
        failing = next(check for check in screen.checks if check.status.value == "fail")
        assert _text(screen, "#check-detail") == f"FAIL {failing.title}: {failing.evidence}"
        assert f"127.0.0.1:{own_pg_cluster.port}" in failing.evidence
        await pilot.press("b")
        await pilot.pause(0.2)
        assert screen.job is None  # refused without a reason
        await pilot.press("o")
        await wait_until(pilot, lambda: app.screen is not screen)
        await pilot.pause(0.1)
        shown = widget_text(app, "#prompt-box")
        assert " ".join(f"FAIL {failing.title}: {failing.evidence}".split()) in shown, shown  # the reason, whole


async def test_leaving_the_screen_keeps_the_backup_and_coming_back_shows_it(pg_cluster, seeded_db, make_settings):
    from screens.widgets.service_panel import ServicePanel

    settings = make_settings(pg_cluster.overrides(seeded_db), **{"ui.refresh_seconds": 0.2})
    app = _app(settings, kind="postgres", target=seeded_db)
    lock = TableLock(pg_cluster, seeded_db)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            first = app.screen
            await wait_until(pilot, lambda: first.checks is not None)
            await pilot.press("b")
            await wait_until(pilot, lambda: bool(processes_named("pg_dump", f"port='{pg_cluster.port}'")), timeout=30)
            await pilot.press("escape")
            await wait_until(pilot, lambda: not isinstance(app.screen, BackupScreen))
            postgres_panel = app.screen.query_one("#panel-postgres", ServicePanel)
            await wait_until(pilot, lambda: postgres_panel.running is not None)
            assert "postgres backup" in postgres_panel.running
            await pilot.press("b")
            await wait_until(pilot, lambda: isinstance(app.screen, BackupScreen) and app.screen is not first)
            second = app.screen
            await wait_until(pilot, lambda: second.job is first.job)
            assert "RUNNING" in _text(second, "#backup-status")
            lock.release()
            await wait_until(pilot, lambda: not second.job.running, timeout=60)
            await wait_until(pilot, lambda: second.query_one("#backup-summary").display)
            assert _text(second, "#backup-summary").startswith("OK:")
    finally:
        lock.release()
