"""The backup screen across runs: a second run on the same screen, a cancelled run, one duration.

These replay a scripted engine (tests/snapshots/test_backup_snapshots.ScriptedRedisBackup) so the
timing that made the second run crash (rows replaced while the 10 Hz timer draws them) is
exercised every time; the real services are driven in test_backup_screen*.py.
"""

from __future__ import annotations

import time

from textual.widgets import Static

from screens.app import BackupConsoleApp
from screens.backup import BackupScreen
from screens.backup_job import BackupEngine
from tests.screens.conftest import fixed_prober, frozen_clock, wait_until, widget_text
from tests.snapshots.test_backup_snapshots import HeldBackup, ScriptedRedisBackup


def _app(settings, engine) -> BackupConsoleApp:  # noqa: ANN001
    return BackupConsoleApp(settings, clock=frozen_clock, prober=fixed_prober(), start_screen="backup",
                            start_kwargs={"kind": "redis", "engine": engine})


def _text(screen, selector: str) -> str:  # noqa: ANN001
    return str(screen.query_one(selector, Static).render())


async def test_a_second_backup_on_the_same_screen_does_not_crash(make_settings):
    script = ScriptedRedisBackup()
    app = _app(make_settings(), script.engine)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        for run in range(3):
            await wait_until(pilot, lambda: screen.checks is not None)
            await pilot.press("b")
            await wait_until(pilot, lambda: screen.job is not None and not screen.job.running)
            await wait_until(pilot, lambda: screen.query_one("#backup-summary").display)
            first_job = screen.job
            await pilot.pause(0.3)  # the timer keeps ticking over the rows of the finished run
            assert app.screen is screen and app.return_code is None
            if run < 2:
                await pilot.press("b")  # straight from the result, as an operator would
                await wait_until(pilot, lambda: screen.job is not first_job and not screen.job.running)
                await pilot.pause(0.3)
        rows = list(screen.query(".phase-row"))
        assert len({row.phase for row in rows if row.is_attached}) == len(rows)  # one row per phase, no leftovers


async def test_a_cancelled_run_never_looks_finished(make_settings):
    held = HeldBackup()
    app = _app(make_settings(), held.engine)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.checks is not None)
        await pilot.press("b")
        await wait_until(pilot, held.holding.is_set)
        await pilot.press("x")
        await wait_until(pilot, lambda: app.screen is not screen)
        await pilot.pause(0.1)
        shown = widget_text(app, "#cancel-box")
        assert "Its partial files are removed and the run is recorded as cancelled." in shown, shown  # not cut
        await pilot.press("y")
        await wait_until(pilot, lambda: screen.job is not None and not screen.job.running)
        await wait_until(pilot, lambda: screen.query_one("#backup-summary").display)
        await pilot.pause(0.2)
        transfer = screen.query_one(".phase-transfer")
        detail = str(transfer.query_one(".phase-detail", Static).render())
        assert detail.startswith("CANCELLED at 40.0 MB"), detail
        assert "done" not in detail and "100%" not in detail
        assert transfer.has_class("-stopped")
        bar = transfer.query_one("TextBar")
        assert bar.percentage is not None and bar.percentage < 0.5  # stopped where it stopped
        bgsave = str(screen.query_one(".phase-bgsave").query_one(".phase-detail", Static).render())
        assert bgsave.startswith("done")  # the phase that did finish says so
        assert _text(screen, "#backup-status").startswith("CANCELLED after")
        assert _text(screen, "#backup-summary").startswith("CANCELLED:")


async def test_the_result_and_the_status_line_give_one_duration(make_settings):
    script = ScriptedRedisBackup()

    def execute(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - the runner records after the kind's own run
        result = script.execute(*args, **kwargs)
        script.now += 0.3
        return result

    app = _app(make_settings(), BackupEngine(preflight=script.preflight, execute=execute, clock=lambda: script.now))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.checks is not None)
        await pilot.press("b")
        await wait_until(pilot, lambda: screen.query_one("#backup-summary").display)
        summary, status = _text(screen, "#backup-summary"), _text(screen, "#backup-status")
        took = status.split("OK after ", 1)[1].split(" - ", 1)[0]
        assert f"OK: redis backup in {took} " in summary, (summary, status)


async def test_quit_during_a_backup_asks_and_cancels_it_before_leaving(make_settings):
    from screens.quit_confirm import QuitModal

    held = HeldBackup()
    app = _app(make_settings(), held.engine)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.checks is not None)
        await pilot.press("b")
        await wait_until(pilot, held.holding.is_set)
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitModal))
        assert "redis backup is running" in " ".join(app.screen.running)
        shown = widget_text(app, "#quit-box")
        assert "it is cancelled, its partial files removed" in shown, shown  # the dialog's own words, not cut
        await pilot.press("n")  # stay: the backup runs on
        await wait_until(pilot, lambda: app.screen is screen)
        await pilot.pause(0.2)
        assert screen.job.running and app.is_running
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitModal))
        started = time.monotonic()
        await pilot.press("y")
        assert time.monotonic() - started < 1  # the UI thread never waits for the worker
        await wait_until(pilot, lambda: not app.is_running)
    assert screen.job.result.status == "cancelled"


async def test_an_unconfigured_source_is_named_and_not_overridable(make_settings, tmp_path, monkeypatch):
    from screens.text_prompt import TextPromptModal

    monkeypatch.chdir(tmp_path)  # the working directory must never stand in for the source
    app = BackupConsoleApp(make_settings(**{"encryption.key": "k" * 32}), clock=frozen_clock, prober=fixed_prober(),
                           start_screen="backup", start_kwargs={"kind": "config"})
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.checks is not None)
        status = _text(screen, "#backup-status")
        assert status.startswith("pre-flight FAILED: the config backup source is not configured")
        assert "CONFIG_SOURCE_DIR" in status and "override" not in status
        await pilot.press("o")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, TextPromptModal) and screen.job is None


async def test_check_titles_are_whole_at_80_and_at_120_columns(make_settings):
    """The check column takes its longest title; the evidence gets what is left (and is whole under the table)."""
    for size in ((80, 24), (120, 40)):
        script = ScriptedRedisBackup()
        app = _app(make_settings(), script.engine)
        async with app.run_test(size=size) as pilot:
            screen = app.screen
            assert isinstance(screen, BackupScreen)
            await wait_until(pilot, lambda: screen.checks is not None)
            await pilot.pause(0.3)
            shown = widget_text(app, "#backup-checks")
            for check in screen.checks:
                assert f"{check.status.check_word.upper()} {check.title}" in shown, (size, shown)
