"""The generic backup screen driving a real Redis backup (and a RabbitMQ one) to its summary."""

from __future__ import annotations

from textual.widgets import DataTable, RichLog, Static

from screens.app import BackupConsoleApp
from screens.backup import BackupScreen
from tests.redis_fixtures import FAST_SYNC, populate
from tests.screens.conftest import fixed_prober, frozen_clock, wait_until


def _app(settings, **start):
    return BackupConsoleApp(settings, clock=frozen_clock, prober=fixed_prober(), start_screen="backup",
                            start_kwargs=start)


def _text(screen, selector) -> str:
    return str(screen.query_one(selector, Static).render())


async def test_backup_screen_runs_a_redis_backup_to_its_summary(make_redis_server, make_settings, backup_dir):
    server = make_redis_server(extra=FAST_SYNC)
    populate(server)
    app = _app(make_settings(server.overrides()), kind="redis")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, BackupScreen)
        await wait_until(pilot, lambda: screen.checks is not None)
        table = screen.query_one("#backup-checks", DataTable)
        states = {str(row.key.value): table.get_row(row.key)[0] for row in table.ordered_rows}
        assert states["redis.healthy"] == "PASS" and states["redis.aof"] == "PASS"
        assert "b starts the backup" in _text(screen, "#backup-status")

        await pilot.press("b")
        await wait_until(pilot, lambda: screen.job is not None and not screen.job.running, timeout=60)
        await wait_until(pilot, lambda: screen.query_one("#backup-summary").display)

        result = screen.job.result
        assert result is not None and result.ok, screen.job.error
        summary = _text(screen, "#backup-summary")
        assert summary.startswith("OK: redis backup in")
        assert result.set_id in summary and f"where: {backup_dir / 'redis'}" in summary
        for info in result.files:
            assert info.name in summary and info.sha256[:12] in summary
        wanted = {"bgsave", "transfer", "validate", "aof", "metadata"}
        try:
            await wait_until(pilot, lambda: wanted <= {row.phase for row in screen.query(".phase-row")})
        except AssertionError:
            raise AssertionError(f"rows {[row.phase for row in screen.query('.phase-row')]} job {list(screen.job.phases)} "
                                 f"rows dict {list(screen._rows)}")
        assert screen.job.phases["transfer"].done > 0 and screen.job.phases["bgsave"].unit == "keys"
        logged = "\n".join(str(line.text) for line in screen.query_one("#backup-log", RichLog).lines)
        assert "BGSAVE done" in logged and "CRC64 ok" in logged
        assert "OK after" in _text(screen, "#backup-status")


async def test_backup_screen_runs_a_rabbitmq_backup_to_its_summary(rabbitmq_vhost, make_settings, backup_dir):
    app = _app(make_settings(**{"rabbitmq.vhost": rabbitmq_vhost}), kind="rabbitmq")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.checks is not None)
        await pilot.press("b")
        await wait_until(pilot, lambda: screen.job is not None and not screen.job.running, timeout=60)
        await wait_until(pilot, lambda: screen.query_one("#backup-summary").display)
        result = screen.job.result
        assert result is not None and result.ok, screen.job.error
        assert _text(screen, "#backup-summary").startswith("OK: rabbitmq backup in")
        await wait_until(pilot, lambda: {"export", "write", "metadata"} <= {row.phase for row in screen.query(".phase-row")})
