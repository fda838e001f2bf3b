"""The Retention and Troubleshooting screens with Pilot, keyboard only, on real sets and a real PostgreSQL."""

from __future__ import annotations

import time

import pytest
from textual.widgets import DataTable, Input

from screens.app import BackupConsoleApp
from screens.retention import RetentionScreen
from screens.text_prompt import TextPromptModal
from screens.troubleshoot import TroubleshootScreen
from tests.retention_fixtures import make_scenario, now, stamp_days_ago
from tests.screens.conftest import fixed_prober, wait_until


pytestmark = pytest.mark.usefixtures("utc")


def retention_app(settings) -> BackupConsoleApp:
    return BackupConsoleApp(settings, clock=now, prober=fixed_prober(), start_screen="retention")


def loaded(app) -> bool:
    return isinstance(app.screen, RetentionScreen) and app.screen.overview is not None and not app.screen._busy


def summary(app) -> str:
    return str(app.screen.query_one("#retention-summary").render())


async def test_state_per_kind_and_planned_actions(backup_dir, make_settings) -> None:
    make_scenario(backup_dir)
    app = retention_app(make_settings())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        kinds = app.screen.query_one("#retention-kinds", DataTable)
        postgres = kinds.get_row("postgres")
        assert postgres[:3] == ["postgres", "16", "remove 6"] and postgres[4] == "-"
        assert postgres[5] == "2026-11-24"
        assert kinds.get_row("certs")[6] == "indefinite"
        assert kinds.get_row("redis")[6] == "2026-11-26 02:00"  # the 6-day-old set passes 7 d tomorrow
        kinds.move_cursor(row=0)  # the oldest set and the lifecycle rule are in the line under the tables
        await pilot.pause()
        detail = str(app.screen.query_one("#retention-detail").render())
        assert detail.startswith("postgres: oldest 2026-10-26, newest 2026-11-24"), detail
        assert sum(column.get_render_width(kinds) for column in kinds.columns.values()) <= 80
        actions = app.screen.query_one("#retention-actions", DataTable)
        assert actions.row_count == 10
        assert "PLAN: remove 10 set(s)" in summary(app) and "offsite: not configured" in summary(app)


async def test_apply_needs_the_typed_number(backup_dir, make_settings) -> None:
    make_scenario(backup_dir)
    oldest = backup_dir / "postgres" / f"backup_app_{stamp_days_ago(12)}.dump"
    app = retention_app(make_settings())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, TextPromptModal))
        await pilot.press("9", "enter")  # wrong number: nothing happens
        await wait_until(pilot, lambda: isinstance(app.screen, RetentionScreen))
        await pilot.pause(0.2)
        assert oldest.exists()
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, TextPromptModal))
        app.screen.query_one(Input).focus()
        await pilot.press("1", "0", "enter")
        await wait_until(pilot, lambda: not oldest.exists() and loaded(app))
        await wait_until(pilot, lambda: "CLEAN" in summary(app))
        assert (backup_dir / "postgres" / f"backup_app_{stamp_days_ago(10)}.dump").exists()  # newest verified


async def test_apply_refused_in_read_only_mode(backup_dir, make_settings) -> None:
    make_scenario(backup_dir)
    oldest = backup_dir / "postgres" / f"backup_app_{stamp_days_ago(12)}.dump"
    app = retention_app(make_settings(read_only=True))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        await pilot.press("a")
        await pilot.pause(0.2)
        assert isinstance(app.screen, RetentionScreen) and oldest.exists()


async def test_dashboard_opens_retention_with_t(backup_dir, make_settings) -> None:
    app = BackupConsoleApp(make_settings(), clock=now, prober=fixed_prober())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.2)
        await pilot.press("t")
        await wait_until(pilot, lambda: loaded(app))
        assert "CLEAN: nothing to remove" in summary(app)


async def test_troubleshoot_terminates_after_typed_pid(pg_cluster, pg_database, make_settings) -> None:
    conn = pg_cluster.connect(pg_database, autocommit=False)
    conn.execute("SET application_name = 'stuck-in-tui'")
    conn.execute("SELECT 1")
    pid = conn.info.backend_pid
    time.sleep(1.1)
    settings = make_settings(pg_cluster.overrides(), **{"postgres.long_transaction_seconds": 1})
    app = BackupConsoleApp(settings, clock=now, prober=fixed_prober(), start_screen="troubleshoot")
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            table = app.screen.query_one("#troubleshoot-transactions", DataTable)
            await wait_until(pilot, lambda: table.row_count > 0)
            assert isinstance(app.screen, TroubleshootScreen)
            keys = [row.key.value for row in table.ordered_rows]
            table.move_cursor(row=keys.index(str(pid)))
            await pilot.press("x")
            await wait_until(pilot, lambda: isinstance(app.screen, TextPromptModal))
            app.screen.query_one(Input).focus()
            await pilot.press(*str(pid), "enter")
            await wait_until(pilot, lambda: str(pid) not in [r.key.value for r in table.ordered_rows], timeout=20)
        assert conn.closed or conn.broken or _dead(conn)
    finally:
        conn.close()


def _dead(conn) -> bool:
    import psycopg

    try:
        conn.execute("SELECT 1")
    except psycopg.Error:
        return True
    return False


async def test_s3_sizes_and_lifecycle_rules_in_force(backup_dir, make_settings, s3_bucket) -> None:
    import boto3

    from console.retention import lifecycle

    make_scenario(backup_dir)
    settings = make_settings(s3_bucket)
    client = boto3.client("s3", endpoint_url=settings.s3.endpoint_url, region_name="us-east-1")
    for days in (1, 2, 3, 40, 100):
        stamp = stamp_days_ago(days)
        client.put_object(Bucket=settings.s3.bucket, Key=f"redis/{stamp}/snapshot.rdb.gz", Body=b"r" * 1000,
                          StorageClass="STANDARD_IA")
    lifecycle.apply(settings, lifecycle.compare(settings))
    app = retention_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        redis = app.screen.query_one("#retention-kinds", DataTable).get_row("redis")
        assert redis[2] == "remove 4 +1 arch" and redis[4] == "5.0 kB"
        kinds = app.screen.query_one("#retention-kinds", DataTable)
        kinds.move_cursor(row=kinds.get_row_index("redis"))
        await pilot.pause()
        assert "lifecycle: prefix 'redis/', -> GLACIER after 30 d, expire after 90 d" in str(
            app.screen.query_one("#retention-detail").render())
        assert "lifecycle: in sync with the policy" in summary(app)
        actions = app.screen.query_one("#retention-actions", DataTable)
        rows = [actions.get_row_at(i) for i in range(actions.row_count)]
        assert ["REMOVE S3", f"redis/{stamp_days_ago(100)}"] in [row[:2] for row in rows]
        assert ["ARCHIVE", f"redis/{stamp_days_ago(40)}"] in [row[:2] for row in rows]
