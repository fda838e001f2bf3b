"""Dashboard behaviour with Pilot against real services."""

from __future__ import annotations

from console.probes import SERVICES, ServiceState
from screens.app import BackupConsoleApp
from screens.widgets.service_panel import TITLES, ServicePanel
from tests.screens.conftest import wait_until


def panel(app, name) -> ServicePanel:
    return app.screen.query_one(f"#panel-{name}", ServicePanel)


def states(app):
    return {p.service: (p.result.state if p.result else None) for p in app.screen.query(ServicePanel)}


def test_the_panels_are_the_probes_services_in_their_order():
    """The dashboard composes a panel per service from TITLES: importing console.probes for SERVICES
    would load every probe's code before the first frame."""
    assert list(TITLES) == list(SERVICES)


async def test_dashboard_shows_every_service_from_real_probes(pg_cluster, redis_server, rabbitmq_api, make_settings):
    settings = make_settings(pg_cluster.overrides(), redis_server.overrides())
    app = BackupConsoleApp(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: None not in states(app).values())
        found = states(app)
        assert found["postgres"] is ServiceState.UP
        assert found["redis"] is ServiceState.UP
        assert found["rabbitmq"] is ServiceState.UP
        assert found["s3"] is ServiceState.UNCONFIGURED
        assert found["storage"] is ServiceState.UP
        assert panel(app, "postgres").has_class("-up")
        assert "UP" == panel(app, "postgres").border_subtitle
        from screens.widgets.backups_panel import BackupsPanel

        backups = app.screen.query_one(BackupsPanel)
        await wait_until(pilot, lambda: bool(backups.lines))
        assert any(line.split() == ["redis", "never"] for line in backups.lines), backups.lines


async def test_pause_and_resume(pg_cluster, redis_server, make_settings):
    app = BackupConsoleApp(make_settings(pg_cluster.overrides(), redis_server.overrides(), **{"ui.refresh_seconds": 0.2}))
    async with app.run_test(size=(80, 24)) as pilot:
        dashboard = app.screen
        await wait_until(pilot, lambda: dashboard._timer is not None)
        await pilot.press("p")
        assert dashboard.paused and dashboard._timer is None
        assert "PAUSED" in dashboard.sub_title
        rounds_before = panel(app, "postgres").result.checked_at
        await pilot.pause(0.6)
        assert panel(app, "postgres").result.checked_at == rounds_before  # no refresh while paused
        await pilot.press("p")
        assert not dashboard.paused and "PAUSED" not in dashboard.sub_title
        await wait_until(pilot, lambda: panel(app, "postgres").result.checked_at > rounds_before)


async def test_service_going_down_turns_its_panel_down_while_keys_work(pg_cluster, make_redis_server, make_settings):
    server = make_redis_server()
    app = BackupConsoleApp(make_settings(pg_cluster.overrides(), server.overrides(), **{"ui.refresh_seconds": 0.3}))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: states(app)["redis"] is ServiceState.UP)
        server.stop()
        await wait_until(pilot, lambda: states(app)["redis"] is ServiceState.DOWN)
        redis_panel = panel(app, "redis")
        assert redis_panel.has_class("-down") and redis_panel.border_subtitle == "DOWN"
        assert "connection refused" in str(redis_panel.body())
        first = app.focused
        await pilot.press("right")
        assert app.focused is not first  # the UI kept handling keys


async def test_hanging_service_shows_timeout_without_freezing(hanging_server, pg_cluster, make_settings):
    settings = make_settings(pg_cluster.overrides(), **{"redis.port": hanging_server.port, "timeout_seconds": 1.0})
    app = BackupConsoleApp(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: states(app)["postgres"] is ServiceState.UP)
        assert states(app)["redis"] is None  # still waiting on the hanging server...
        await pilot.press("right")  # ...and the UI answers keys meanwhile
        await wait_until(pilot, lambda: states(app)["redis"] is ServiceState.TIMEOUT)


async def test_help_screen_lists_bindings(pg_cluster, make_settings):
    from screens.help import HelpScreen
    from textual.widgets import DataTable

    app = BackupConsoleApp(make_settings(pg_cluster.overrides()))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one(DataTable)
        actions = [table.get_row_at(i)[1] for i in range(table.row_count)]
        assert {"Refresh", "Pause", "Details", "Quit", "Help"} <= set(actions)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_enter_opens_service_detail_with_all_metrics(pg_cluster, make_settings):
    from screens.service_detail import ServiceDetailScreen
    from textual.widgets import DataTable

    app = BackupConsoleApp(make_settings(pg_cluster.overrides()))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: states(app)["postgres"] is ServiceState.UP)
        panel(app, "postgres").focus()
        await pilot.press("enter")
        assert isinstance(app.screen, ServiceDetailScreen)
        table = app.screen.query_one(DataTable)
        rows = {table.get_row_at(i)[0]: table.get_row_at(i)[1] for i in range(table.row_count)}
        assert rows["max connections"] == "100"
        assert "wal level" in rows
        await pilot.press("escape")
        assert app.screen.__class__.__name__ == "DashboardScreen"


async def test_read_only_is_shown_in_the_header(make_settings):
    from tests.screens.conftest import fixed_prober

    app = BackupConsoleApp(make_settings(read_only=True), prober=fixed_prober())
    async with app.run_test(size=(80, 24)):
        assert "READ-ONLY" in app.screen.sub_title


async def test_palette_lists_dashboard_actions(make_settings):
    from tests.screens.conftest import fixed_prober

    app = BackupConsoleApp(make_settings(), prober=fixed_prober())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.press(*"pause")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert app.screen.paused


async def test_backups_panel_shows_stale_sets_failed_verification_and_failed_runs(make_settings, backup_dir):
    import datetime as dt
    import gzip
    import time

    from console.runlog import RunRecord, record_run
    from console.verify.run import verify
    from screens.widgets.backups_panel import BackupsPanel
    from tests.screens.conftest import fixed_prober

    old = (dt.datetime.now() - dt.timedelta(days=3)).strftime("%Y%m%d_%H%M%S")
    (backup_dir / "redis").mkdir(parents=True)
    (backup_dir / "redis" / f"snapshot_{old}.rdb.gz").write_bytes(gzip.compress(b"not an rdb at all"))
    settings = make_settings()
    assert verify(settings, kind="redis").sets[0].status == "failed"
    record_run(backup_dir, RunRecord("backup", "rabbitmq", "", "failed", time.time() - 60, time.time() - 50,
                                     "wrong RabbitMQ credentials"))
    app = BackupConsoleApp(settings, prober=fixed_prober())
    async with app.run_test(size=(80, 24)) as pilot:
        backups = app.screen.query_one(BackupsPanel)
        await wait_until(pilot, lambda: "never" in str(backups.render()))
        lines = {line.split()[0]: line for line in str(backups.render()).splitlines()}
        assert "3d ago" in lines["redis"] and "FAILED" in lines["redis"] and "STALE" in lines["redis"]
        assert "last run FAILED" in lines["rabbitmq"]
        assert backups.has_class("-down") and "ALERT" in backups.border_subtitle


async def test_postgres_panel_shows_wal_archiving_failures(make_settings):
    from tests.postgres_fixtures import wait_until as wait_for
    from tests.servers import PgCluster

    cluster = PgCluster(extra_conf={"wal_level": "replica", "archive_mode": "on", "archive_command": "'false'"})
    cluster.init().start()
    try:
        with cluster.connect() as conn:
            conn.execute("CREATE TABLE churn AS SELECT generate_series(1, 1000) AS n")
            conn.execute("SELECT pg_switch_wal()")

            def failures() -> int:
                return conn.execute("SELECT failed_count FROM pg_stat_archiver").fetchone()[0]

            assert wait_for(lambda: failures() >= 1, timeout=30)
        app = BackupConsoleApp(make_settings(cluster.overrides()))
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: panel(app, "postgres").result is not None)
            shown = str(panel(app, "postgres").body()).splitlines()[1]
            assert shown.startswith("size ") and "archiving on  failed " in shown, shown
    finally:
        cluster.destroy()


async def test_the_dashboard_is_the_bottom_of_the_screen_stack(make_settings):
    """Nothing is drawn before the dashboard (Textual's blank default screen was composed and styled
    under it), every screen opens over it, and `back` returns to it rather than to a blank screen."""
    from screens.checklist import ChecklistScreen
    from screens.dashboard import DashboardScreen
    from tests.screens.conftest import fixed_prober

    app = BackupConsoleApp(make_settings(), prober=fixed_prober())
    async with app.run_test(size=(80, 24)) as pilot:
        assert [type(screen) for screen in app.screen_stack] == [DashboardScreen]
        await pilot.press("t")
        await wait_until(pilot, lambda: len(app.screen_stack) == 2)
        await pilot.press("escape")
        await wait_until(pilot, lambda: len(app.screen_stack) == 1)
        assert isinstance(app.screen, DashboardScreen)
    app = BackupConsoleApp(make_settings(), prober=fixed_prober(), start_screen="checklist",
                           start_kwargs={"service": "redis"})
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ChecklistScreen))
        assert [type(screen) for screen in app.screen_stack] == [DashboardScreen, ChecklistScreen]


async def test_a_backup_made_under_another_screen_shows_as_soon_as_the_dashboard_is_back(make_settings, backup_dir):
    """Rounds are skipped while another screen covers the dashboard; coming back (from the Backup screen,
    after a backup) it showed the old state until its next timer, up to ui.refresh_seconds later."""
    from screens.dashboard import DashboardScreen
    from screens.widgets.backups_panel import BackupsPanel
    from tests.screens.conftest import fixed_prober

    app = BackupConsoleApp(make_settings(**{"ui.refresh_seconds": 30}), prober=fixed_prober())
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.screen.query_one(BackupsPanel)
        await wait_until(pilot, lambda: any("redis" in line and "never" in line for line in panel.lines))
        await pilot.press("t")
        await wait_until(pilot, lambda: len(app.screen_stack) == 2)
        (backup_dir / "redis").mkdir(parents=True, exist_ok=True)
        (backup_dir / "redis" / "snapshot_20261207_120000.rdb.gz").write_bytes(b"x" * 100)  # the manual's name
        app.screen_stack[0]._on_timer()  # the round due while covered (30 s are not waited for here)
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, DashboardScreen))
        await wait_until(pilot, lambda: not any("redis" in line and "never" in line for line in panel.lines), timeout=5)
