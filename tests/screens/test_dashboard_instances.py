"""The dashboard with several instances per kind: panels grouped by kind with the worst state in
words, the compact table when they do not fit, `/` filter, `:` context, instance-aware backups.

Probe results come from the app's injectable prober (real probes are tested elsewhere); the
configuration is a real YAML file with named instances."""

from __future__ import annotations

import os

import pytest
from textual.widgets import DataTable, Input, OptionList, Select

from console.lock import BackupLock
from screens.app import BackupConsoleApp
from screens.backup import BackupScreen
from screens.widgets.instance_table import InstanceTable
from screens.widgets.kind_group import KindGroup
from screens.widgets.service_panel import ServicePanel
from tests.screens.conftest import (FLEET_STATES, TWENTY_STATES, fixed_prober, fleet_settings, frozen_clock,
                                    twenty_instances_yaml, wait_until)


@pytest.fixture
def fleet(tmp_path, backup_dir):
    return fleet_settings(tmp_path, backup_dir)


@pytest.fixture
def twenty(tmp_path, backup_dir):
    return fleet_settings(tmp_path, backup_dir, twenty_instances_yaml(backup_dir))


def shown_panels(app) -> list[str]:
    """The panels on screen: shown themselves and inside shown containers."""
    return [panel.label for panel in app.screen.query(ServicePanel)
            if all(node.display for node in panel.ancestors_with_self if node is not app.screen and node is not app)]


def probed(app) -> bool:
    return all(panel.result is not None for panel in app.screen.query(ServicePanel))


def table_labels(table: DataTable) -> list[str]:
    return [str(table.get_row_at(index)[0]) for index in range(table.row_count)]


async def test_one_instance_per_kind_keeps_one_panel_per_service_and_no_groups(make_settings):
    app = BackupConsoleApp(make_settings(), clock=frozen_clock, prober=fixed_prober())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: probed(app))
        assert shown_panels(app) == ["postgres", "redis", "rabbitmq", "s3", "storage", "certs"]
        assert not app.screen.query(KindGroup)
        assert not any(table.display for table in app.screen.query(InstanceTable))  # none, or hidden
        assert app.screen.query_one("#panel-postgres", ServicePanel).border_title == "PostgreSQL"
        assert app.focused.id == "panel-postgres"  # never the hidden filter field


async def test_instances_get_a_panel_each_grouped_by_kind_with_the_worst_state_in_words(fleet):
    app = BackupConsoleApp(fleet, clock=frozen_clock, prober=fixed_prober(FLEET_STATES))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: probed(app))
        assert shown_panels(app) == ["postgres/main", "postgres/analytics", "postgres/reporting", "redis/cache",
                                     "redis/queue", "rabbitmq", "s3", "storage", "certs"]
        postgres = app.screen.query_one("#group-postgres", KindGroup)
        assert postgres.title_words == "PostgreSQL  2/3 up · 1 DOWN"
        assert postgres.has_class("-down")
        redis = app.screen.query_one("#group-redis", KindGroup)
        assert redis.title_words == "Redis  0/2 up · 2 DEGRADED" and redis.has_class("-degraded")
        analytics = app.screen.query_one("#panel-postgres-analytics", ServicePanel)
        assert analytics.border_title == "analytics  env=prod team=data"  # the tags fit at 120 columns
        assert analytics.border_subtitle == "DOWN" and analytics.has_class("-down")
        assert app.screen.query_one("#panel-postgres-main", ServicePanel).border_title == "main"
        assert not any(table.display for table in app.screen.query(InstanceTable))  # none, or hidden


async def test_tags_give_way_to_the_name_when_the_panel_is_narrow(tmp_path, backup_dir):
    text = ("backup_dir: {d}\npostgres:\n  instances:\n    main: {{host: a}}\n"
            "    analytics: {{host: b, tags: {{env: production, team: data-platform}}}}\n").format(d=backup_dir)
    app = BackupConsoleApp(fleet_settings(tmp_path, backup_dir, text), clock=frozen_clock, prober=fixed_prober())
    async with app.run_test(size=(80, 30)) as pilot:
        await wait_until(pilot, lambda: probed(app))
        assert app.screen.query_one("#panel-postgres-analytics", ServicePanel).border_title == "analytics"


async def test_instances_that_do_not_fit_become_one_table_row_each(twenty):
    app = BackupConsoleApp(twenty, clock=frozen_clock, prober=fixed_prober(TWENTY_STATES))
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(InstanceTable)
        await wait_until(pilot, lambda: table.display and table.row_count == 24 and "DOWN" in str(table.get_row(
            "postgres/pg04")) and table.backups)
        assert not app.screen.query_one("#dashboard-panels").display
        assert table_labels(table)[:3] == ["postgres/pg01", "postgres/pg02", "postgres/pg03"]
        assert table_labels(table)[-4:] == ["rabbitmq", "s3", "storage", "certs"]
        row = [str(cell) for cell in table.get_row("redis/cache2")]
        assert row[1] == "TIMEOUT" and row[2] == "5 ms" and row[3] == "never"
        assert app.focused is table
        assert table.border_subtitle == "15/24 up · 2 DOWN · 1 TIMEOUT · 5 DEGRADED · 1 OFF"


async def test_three_and_two_instances_do_not_fit_80x24_panels_but_fit_120x40(fleet):
    app = BackupConsoleApp(fleet, clock=frozen_clock, prober=fixed_prober(FLEET_STATES))
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(InstanceTable)
        await wait_until(pilot, lambda: table.row_count == 9)
        assert table.display
        await pilot.resize_terminal(120, 40)
        await wait_until(pilot, lambda: not table.display)
        assert app.screen.query_one("#dashboard-panels").display


async def test_table_keys_move_and_enter_opens_the_instance_detail_scoped_to_it(twenty):
    from screens.service_detail import ServiceDetailScreen

    seen_scopes = []
    base = fixed_prober(TWENTY_STATES)

    def prober(settings, names=None, on_result=None):
        seen_scopes.append((tuple(names or ()), settings.instance_of("postgres")))
        return base(settings, names, on_result)

    app = BackupConsoleApp(twenty, clock=frozen_clock, prober=prober)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(InstanceTable)
        await wait_until(pilot, lambda: table.row_count == 24 and app.focused is table)
        await pilot.press("down", "down", "j")
        assert table.cursor_row == 3
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ServiceDetailScreen))
        detail = app.screen
        assert (detail.service, detail.instance) == ("postgres", "pg04")
        assert "PostgreSQL pg04" in detail.sub_title
        assert str(app.screen.query_one("#detail-summary").render()).startswith("DOWN: connection refused")
        await pilot.press("r")
        await wait_until(pilot, lambda: (("postgres",), "pg04") in seen_scopes)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert detail.result.instance == "pg04"
        await pilot.press("escape")
        assert app.screen.__class__.__name__ == "DashboardScreen"


async def test_enter_on_an_instance_panel_opens_its_detail(fleet):
    from screens.service_detail import ServiceDetailScreen

    app = BackupConsoleApp(fleet, clock=frozen_clock, prober=fixed_prober(FLEET_STATES))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: probed(app))
        app.screen.query_one("#panel-postgres-analytics").focus()
        await pilot.press("enter")
        assert isinstance(app.screen, ServiceDetailScreen)
        assert (app.screen.service, app.screen.instance, app.screen.result.state.value) == ("postgres", "analytics",
                                                                                             "down")
        assert app.screen.check_action("open_pitr", ())  # point-in-time recovery of this instance's cluster
        app.screen.action_open_pitr()
        await pilot.pause()
        assert (app.screen.__class__.__name__, app.screen.instance) == ("PitrScreen", "analytics")
        assert app.screen.sub_title.endswith("- analytics")
        await app.workers.wait_for_complete()


async def test_arrow_keys_move_between_panels_across_groups(fleet):
    app = BackupConsoleApp(fleet, clock=frozen_clock, prober=fixed_prober(FLEET_STATES))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: probed(app))
        assert app.focused.id == "panel-postgres-main"
        await pilot.press("right")
        assert app.focused.id == "panel-postgres-analytics"
        await pilot.press("down")  # the Redis group is the next row
        assert app.focused.id == "panel-redis-queue"
        await pilot.press("down")  # the nearest panel of the row below
        assert app.focused.id == "panel-s3"
        await pilot.press("down")
        assert app.focused.id == "panel-certs"
        await pilot.press("down")
        assert app.focused.id == "panel-backups"
        await pilot.press("down")  # nothing wraps
        assert app.focused.id == "panel-backups"
        await pilot.press("up")
        assert app.focused.id == "panel-certs"


async def test_slash_filters_by_name_kind_or_tag_and_escape_clears(fleet):
    app = BackupConsoleApp(fleet, clock=frozen_clock, prober=fixed_prober(FLEET_STATES))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: probed(app))
        scope = app.screen.query_one("#dashboard-scope")
        assert not scope.display
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"ana")
        assert shown_panels(app) == ["postgres/analytics"]
        assert scope.display and str(scope.render()) == "1 of 9 shown · enter keeps · esc clears"
        assert app.screen.query_one("#group-postgres", KindGroup).title_words == "PostgreSQL  0/1 up · 1 DOWN"
        await pilot.press("enter")
        assert app.focused.id == "panel-postgres-analytics"
        assert str(scope.render()) == 'filter "ana" · 1 of 9 shown · esc clears'
        assert shown_panels(app) == ["postgres/analytics"]  # the filter stays after enter
        await pilot.press("escape")
        assert len(shown_panels(app)) == 9 and not scope.display
        await pilot.press("slash", *"env=prod")
        assert shown_panels(app) == ["postgres/analytics", "redis/queue"]
        await pilot.press("escape")  # escape in the input clears too
        assert len(shown_panels(app)) == 9 and not app.screen.query_one("#dashboard-filter").display


async def test_filtering_twenty_instances_down_to_a_few_brings_the_panels_back(twenty):
    app = BackupConsoleApp(twenty, clock=frozen_clock, prober=fixed_prober(TWENTY_STATES))
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(InstanceTable)
        await wait_until(pilot, lambda: table.row_count == 24)
        await pilot.press("slash", *"pg")
        assert table.display and table_labels(table) == [f"postgres/pg{n:02d}" for n in range(1, 15)]
        await pilot.press("1")  # pg10 to pg14: five panels under their group title fit
        assert not table.display and shown_panels(app) == [f"postgres/pg{n}" for n in range(10, 15)]
        await pilot.press("backspace")
        assert table.display and table.row_count == 14
        await pilot.press(*"04", "enter")
        assert shown_panels(app) == ["postgres/pg04"] and app.focused.id == "panel-postgres-pg04"
        assert app.screen.query_one("#group-postgres").title_words == "PostgreSQL  0/1 up · 1 DOWN"


async def test_colon_switches_context_to_a_tag_or_an_instance(fleet):
    from screens.context_switch import ContextModal

    app = BackupConsoleApp(fleet, clock=frozen_clock, prober=fixed_prober(FLEET_STATES))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: probed(app))
        await pilot.press("colon")
        assert isinstance(app.screen, ContextModal)
        options = app.screen.query_one(OptionList)
        offered = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert offered[:4] == ["*", "env=prod", "env=staging", "team=data"]
        assert "postgres" in offered and "postgres/reporting" in offered and "rabbitmq" not in offered
        options.highlighted = offered.index("env=prod")
        await pilot.press("enter")
        assert shown_panels(app) == ["postgres/analytics", "redis/queue"]
        scope = app.screen.query_one("#dashboard-scope")
        assert "context env=prod · 2 of 9 shown · esc clears" in str(scope.render())
        await pilot.press("slash", *"redis", "enter")  # a filter narrows the context further
        assert shown_panels(app) == ["redis/queue"]
        await pilot.press("colon")
        options = app.screen.query_one(OptionList)
        options.highlighted = [options.get_option_at_index(i).id for i in range(options.option_count)].index(
            "postgres/reporting")
        await pilot.press("enter")
        assert shown_panels(app) == []  # reporting is not redis
        assert "nothing matches" in str(scope.render())
        await pilot.press("escape")
        assert len(shown_panels(app)) == 9


async def test_filter_and_context_keys_show_in_the_footer_and_help_only_with_several_instances(fleet, make_settings):
    from screens.help import HelpScreen

    def footer_keys(app):
        return [binding.key for _, binding, enabled, _ in app.screen.active_bindings.values() if binding.show]

    app = BackupConsoleApp(make_settings(), clock=frozen_clock, prober=fixed_prober())
    async with app.run_test(size=(80, 24)):
        assert "slash" not in footer_keys(app) and "t" in footer_keys(app)
    app = BackupConsoleApp(fleet, clock=frozen_clock, prober=fixed_prober(FLEET_STATES))
    async with app.run_test(size=(80, 24)) as pilot:
        shown = footer_keys(app)
        assert {"slash", "colon", "b", "c", "v", "r", "p"} <= set(shown)
        assert "t" not in shown and "d" not in shown  # no room at 80 columns; still bound:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one(DataTable)
        actions = {table.get_row_at(i)[2] for i in range(table.row_count)}
        assert {"filter-instances", "switch-context", "open-retention", "open-drill"} <= actions
        await pilot.press("escape", "t")
        assert app.screen.__class__.__name__ == "RetentionScreen"


def _backup_files(backup_dir):
    for relative in ("postgres@analytics/backup_shop_20261125_020000.dump",
                     "postgres@main/backup_shop_20261124_020000.dump",
                     "redis@queue/snapshot_20261125_010000.rdb.gz"):
        path = backup_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


async def test_backups_panel_has_a_line_per_instance_target_and_panels_their_own_age(fleet, backup_dir):
    from screens.widgets.backups_panel import BackupsPanel

    _backup_files(backup_dir)
    app = BackupConsoleApp(fleet, clock=frozen_clock, prober=fixed_prober(FLEET_STATES))
    async with app.run_test(size=(120, 40)) as pilot:
        backups = app.screen.query_one(BackupsPanel)
        await wait_until(pilot, lambda: bool(backups.lines))
        words = {line.split()[0]: line.split()[1:] for line in backups.lines if "/" in line.split()[0]}
        assert words["postgres/main/shop"][:2] == ["1d", "ago"]
        assert words["postgres/analytics/shop"][:2] == ["1h", "ago"]
        assert words["redis/queue"][:2] == ["2h", "ago"]
        assert words["postgres/reporting/shop"] == ["never"] and words["redis/cache"] == ["never"]  # its database
        analytics = app.screen.query_one("#panel-postgres-analytics", ServicePanel)
        main = app.screen.query_one("#panel-postgres-main", ServicePanel)
        await wait_until(pilot, lambda: analytics.last_backup_age is not None)
        assert round(analytics.last_backup_age) == 3600 and round(main.last_backup_age) == 25 * 3600


async def test_a_running_backup_shows_on_its_own_instance_only(fleet, backup_dir):
    with BackupLock(backup_dir, "postgres-shop@analytics", "postgres analytics backup of shop"):
        app = BackupConsoleApp(fleet, clock=frozen_clock, prober=fixed_prober(FLEET_STATES))
        async with app.run_test(size=(120, 40)) as pilot:
            analytics = app.screen.query_one("#panel-postgres-analytics", ServicePanel)
            await wait_until(pilot, lambda: analytics.running is not None)
            assert analytics.running == f"postgres analytics backup of shop (pid {os.getpid()})"
            assert app.screen.query_one("#panel-postgres-main", ServicePanel).running is None
            assert app.screen.query_one("#panel-redis-queue", ServicePanel).running is None


async def test_a_running_backup_is_a_word_in_the_table(twenty, backup_dir):
    with BackupLock(backup_dir, "postgres-postgres@pg02", "postgres pg02 backup"):
        app = BackupConsoleApp(twenty, clock=frozen_clock, prober=fixed_prober(TWENTY_STATES))
        async with app.run_test(size=(80, 24)) as pilot:
            table = app.screen.query_one(InstanceTable)
            await wait_until(pilot, lambda: table.row_count == 24 and str(table.get_row("postgres/pg02")[3]) == "running")
            assert str(table.get_row("postgres/pg01")[3]) == "never"


async def test_the_backups_panel_follows_the_filter_and_context_but_counts_every_alert(fleet, backup_dir):
    from screens.widgets.backups_panel import BackupsPanel

    _backup_files(backup_dir)
    app = BackupConsoleApp(fleet, clock=frozen_clock, prober=fixed_prober(FLEET_STATES))
    async with app.run_test(size=(120, 40)) as pilot:
        backups = app.screen.query_one(BackupsPanel)
        await wait_until(pilot, lambda: backups.complete)  # the probes' findings too: the count is final
        alerts = backups.border_subtitle
        await pilot.press("slash", *"env=prod", "enter")
        targets = [line.split()[0] for line in backups.lines if not line.startswith(("ALERT", "warn", "running"))]
        assert targets == ["postgres/analytics/shop", "redis/queue"]
        assert backups.border_subtitle == alerts  # alerts of instances filtered out still count
        await pilot.press("escape")
        assert "postgres/main/shop" in " ".join(backups.lines) and "config" in " ".join(backups.lines)


TWO_REFUSING_CLUSTERS = """\
backup_dir: {backup_dir}
timeout_seconds: 1
postgres:
  host: 127.0.0.1
  port: 1
  instances:
    main: {{databases: [shop]}}
    analytics: {{databases: [events, clicks]}}
redis:
  host: 127.0.0.1
  port: 1
"""
"""Two PostgreSQL clusters that refuse at once (the Backup screen's pre-flight ends fast)."""


async def test_b_opens_the_backup_screen_on_the_focused_instance(tmp_path, backup_dir):
    settings = fleet_settings(tmp_path, backup_dir, TWO_REFUSING_CLUSTERS.format(backup_dir=backup_dir))
    app = BackupConsoleApp(settings, clock=frozen_clock, prober=fixed_prober())
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: probed(app))
        app.screen.query_one("#panel-postgres-analytics").focus()
        await pilot.press("b")
        screen = app.screen
        assert isinstance(screen, BackupScreen)
        await wait_until(pilot, lambda: screen.target is not None)
        assert (screen.kind, screen.instance, screen.target) == ("postgres", "analytics", "events")
        assert app.screen.query_one("#backup-instance", Select).value == "analytics"
        await pilot.press("escape")
        app.screen.query_one("#panel-redis").focus()
        await pilot.press("b")
        assert (app.screen.kind, app.screen.instance) == ("redis", "default")
        await pilot.press("escape")
        app.screen.query_one("#panel-storage").focus()  # no kind of its own: the Backup screen as always
        await pilot.press("b")
        assert isinstance(app.screen, BackupScreen) and app.screen.kind == "postgres"


async def test_b_on_a_table_row_opens_the_backup_screen_on_that_instance(twenty):
    app = BackupConsoleApp(twenty, clock=frozen_clock, prober=fixed_prober(TWENTY_STATES))
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(InstanceTable)
        await wait_until(pilot, lambda: table.row_count == 24 and app.focused is table)
        table.move_cursor(row=table_labels(table).index("redis/cache3"))
        await pilot.press("b")
        assert isinstance(app.screen, BackupScreen)
        assert (app.screen.kind, app.screen.instance) == ("redis", "cache3")
