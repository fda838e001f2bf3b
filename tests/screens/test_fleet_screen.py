"""The Fleet screen with Pilot: every host's targets from the bucket, stale and failed rows in words,
loaded in a worker, reload with `r`, enter shows why; opened by `f` on the dashboard and the palette."""

from __future__ import annotations

import datetime as dt

from textual.widgets import DataTable

from screens.app import BackupConsoleApp
from screens.fleet import FleetScreen
from tests.fleet_fixtures import fleet_records, put_records, record
from tests.screens.conftest import fixed_prober, wait_until


def real_now() -> dt.datetime:
    return dt.datetime.now().astimezone()


def loaded(app) -> bool:
    return isinstance(app.screen, FleetScreen) and app.screen.view is not None


def summary(app) -> str:
    return str(app.screen.query_one("#fleet-summary").render())


def rows(app) -> list[list[str]]:
    table = app.screen.query_one(DataTable)
    return [[str(cell) for cell in table.get_row_at(index)] for index in range(table.row_count)]


async def test_rows_states_and_reload(make_settings, s3_bucket) -> None:
    now = real_now().timestamp()
    put_records(s3_bucket, fleet_records(now))
    app = BackupConsoleApp(make_settings(s3_bucket), clock=real_now, prober=fixed_prober(), start_screen="fleet")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        found = {(row[0], row[1]): row for row in rows(app)}
        shop = found[("db-1", "postgres/main/shop")]
        assert (shop[2], shop[4], shop[5]) == ("ok", "verified", "OK") and shop[3] in ("59m ago", "1h ago")
        assert found[("db-1", "postgres/analytics")][4:] == ["FAILED", "FAILED"]  # its verification failed
        assert found[("db-2", "rabbitmq")][2] == "FAILED" and found[("db-2", "rabbitmq")][5] == "STALE"
        assert found[("db-2", "config/app")][5] == "FAILED"  # schedule off: failed, never stale
        assert found[("old-host", "redis/queue")][5] == "STALE" and found[("old-host", "redis/queue")][3] == "3d ago"
        assert summary(app).startswith("PROBLEMS: 3 host(s), 6 target(s)") and "silent: old-host" in summary(app)
        assert app.screen.query_one("#fleet-summary").has_class("-down")

        await pilot.press("enter")  # the first row: why
        await wait_until(pilot, lambda: not isinstance(app.screen, FleetScreen))
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, FleetScreen))

        put_records(s3_bucket, [record("old-host", "redis", "queue", "", now=now, set_age_hours=1,
                                       published_age_hours=0.1)])
        app.screen.view = None
        await pilot.press("r")
        await wait_until(pilot, lambda: loaded(app))
        assert "silent" not in summary(app)
        await pilot.press("escape")
        assert not isinstance(app.screen, FleetScreen)


async def test_without_a_bucket_the_screen_says_not_configured(make_settings) -> None:
    app = BackupConsoleApp(make_settings(), clock=real_now, prober=fixed_prober(), start_screen="fleet")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: "NOT CONFIGURED" in summary(app))
        assert "s3.bucket" in summary(app) and app.screen.query_one(DataTable).row_count == 0


async def test_an_empty_bucket_says_so(make_settings, s3_bucket) -> None:
    app = BackupConsoleApp(make_settings(s3_bucket), clock=real_now, prober=fixed_prober(), start_screen="fleet")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        assert summary(app).startswith("no fleet records under s3://")


async def test_f_on_the_dashboard_and_the_palette_open_it(make_settings, s3_bucket) -> None:
    app = BackupConsoleApp(make_settings(s3_bucket), clock=real_now, prober=fixed_prober())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f")
        await wait_until(pilot, lambda: isinstance(app.screen, FleetScreen))
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, FleetScreen))
        await pilot.press("ctrl+p")
        await pilot.press(*"Fleet: every")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, FleetScreen))


async def test_a_bucket_that_cannot_be_read_is_one_error_line(make_settings, s3_bucket) -> None:
    """Nothing listens on the endpoint: the summary says ERROR and what could not be read, on one line."""
    from tests.servers import free_port

    broken = {**s3_bucket, "s3.endpoint_url": f"http://127.0.0.1:{free_port()}", "timeout_seconds": 1.0}
    app = BackupConsoleApp(make_settings(broken), clock=real_now, prober=fixed_prober(), start_screen="fleet")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: "ERROR" in summary(app) or "NOT CONFIGURED" in summary(app))
        assert summary(app).startswith("ERROR: cannot read the fleet records: "), summary(app)
        assert "\n" not in summary(app) and "Traceback" not in summary(app)
        assert app.screen.query_one("#fleet-summary").has_class("-error")
