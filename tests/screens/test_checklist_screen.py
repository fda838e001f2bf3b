"""The checklist screen with Pilot, keyboard only, against real PostgreSQL clusters."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.runlog import read_runs
from console.status import Status
from screens.app import BackupConsoleApp
from screens.checklist import ChecklistScreen
from screens.checklist_item import ChecklistItemModal
from screens.text_prompt import TextPromptModal
from screens.widgets.checklist_view import ChecklistView, ItemRow
from tests.screens.conftest import fixed_prober, wait_until

TICKET_LIST = ("service: postgres\nitems:\n  - id: change_ticket\n    title: Change ticket open\n"
               "    why: Someone must know.\n    on_fail: Open one.\n    manual: true\n    required: true\n")


def settings_with_ticket(make_settings, tmp_path: Path, *overrides):
    lists = tmp_path / "lists"
    lists.mkdir(exist_ok=True)
    (lists / "ticket.yaml").write_text(TICKET_LIST)
    return make_settings(*overrides, **{"checklists.dir": str(lists)})


def checklist_app(settings, service: str = "postgres") -> BackupConsoleApp:
    return BackupConsoleApp(settings, prober=fixed_prober(), start_screen="checklist",
                            start_kwargs={"service": service})


def view_of(app) -> ChecklistView:
    assert isinstance(app.screen, ChecklistScreen)
    return app.screen.view


def checks_done(app) -> bool:
    view = view_of(app)
    return all(view.run[item.id].state not in (Status.RUNNING, Status.PENDING) for item in view.checklist.automated)


def gate_text(app) -> str:
    return str(app.screen.query_one("#gate-line").render())


async def highlight(pilot, item_id: str) -> None:
    """Move the cursor with the arrow keys only, as an operator would."""
    view = view_of(pilot.app)
    ids = [item.id for item in view.checklist.items]
    while view.current_status.item.id != item_id:
        await pilot.press("down" if ids.index(view.current_status.item.id) < ids.index(item_id) else "up")


async def test_walk_the_postgres_checklist_with_keys_only(pg_cluster, make_settings, tmp_path) -> None:
    pytest.importorskip("console.kinds.postgres.checks")
    app = checklist_app(settings_with_ticket(make_settings, tmp_path, pg_cluster.overrides()))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: checks_done(app))
        view = view_of(app)
        assert view.run["healthy"].state is Status.OK
        assert str(pg_cluster.port) in view.run["healthy"].evidence
        assert view.query_one("#item-healthy", ItemRow).has_class("-ok")
        assert gate_text(app).startswith("GATE CLOSED: 1 required not passed (change_ticket)")
        assert app.screen.check_action("start_backup", ()) is None  # greyed out
        assert app.screen.check_action("override", ()) is True

        await highlight(pilot, "healthy")
        await pilot.press("enter")  # why it matters / what to do
        assert isinstance(app.screen, ChecklistItemModal)
        assert "pg_dump needs a server that accepts connections" in app.screen.query_one("Markdown").source
        await pilot.press("escape")
        assert isinstance(app.screen, ChecklistScreen)

        await pilot.press("space")  # an automated item cannot be ticked
        assert view.run["healthy"].state is Status.OK

        for item_id in ("wal_archiving", "quiet_window", "change_ticket"):
            await highlight(pilot, item_id)
            await pilot.press("space")
            assert view.run[item_id].state is Status.OK
        await pilot.press("n")
        assert isinstance(app.screen, TextPromptModal)
        await pilot.press(*"CHG-1234", "enter")
        assert view.run["change_ticket"].notes == ["CHG-1234"]
        row_text = str(view.query_one("#item-change_ticket .item-evidence").render())
        assert "ticked by" in row_text and "note: CHG-1234" in row_text
        assert gate_text(app).startswith("GATE OPEN: every required item passes")
        assert app.screen.check_action("start_backup", ()) is True
        assert app.screen.check_action("override", ()) is False

        await pilot.press("space")  # unticking closes the gate again
        assert gate_text(app).startswith("GATE CLOSED")
        await pilot.press("2")
        assert view_of(app).service == "redis"
        await pilot.press("shift+tab")
        assert view_of(app).service == "postgres"
        await pilot.press("tab")
        assert view_of(app).service == "redis"
        await pilot.press("1")
        assert view_of(app).run["change_ticket"].state is Status.PENDING  # each list keeps its state


async def test_stopped_postgres_fails_with_evidence_and_the_override_reason_is_recorded(
        own_pg_cluster, make_settings, tmp_path, backup_dir) -> None:
    pytest.importorskip("console.kinds.postgres.checks")
    pytest.importorskip("console.kinds.postgres.backup")
    settings = make_settings(own_pg_cluster.overrides())
    own_pg_cluster.stop()
    app = checklist_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: checks_done(app))
        healthy = view_of(app).run["healthy"]
        assert healthy.state is Status.FAIL
        assert str(own_pg_cluster.port) in healthy.evidence
        assert view_of(app).query_one("#item-healthy", ItemRow).has_class("-fail")
        assert "[FAIL] Database is healthy" in str(view_of(app).query_one("#item-healthy .item-head").render())
        assert gate_text(app).startswith("GATE CLOSED")

        await pilot.press("b")  # disabled while the gate is closed: nothing happens
        assert isinstance(app.screen, ChecklistScreen) and not app.screen.backup_running
        await pilot.press("o")
        assert isinstance(app.screen, TextPromptModal)
        await pilot.press("enter")  # an empty reason is refused
        assert isinstance(app.screen, TextPromptModal)
        assert "type something first" in str(app.screen.query_one("#prompt-error").render())
        await pilot.press(*"drill: primary down on purpose", "enter")
        backup_screen = app.screen  # starting leads into the backup screen, carrying the reason
        assert type(backup_screen).__name__ == "BackupScreen"
        assert backup_screen.kind == "postgres" and backup_screen.target == "postgres"
        assert backup_screen.force_reason.startswith("drill: primary down on purpose (checklist override: healthy")
        await pilot.press("b")
        await wait_until(pilot, lambda: backup_screen.job is not None and not backup_screen.job.running, timeout=60)

    [run] = [record for record in read_runs(backup_dir) if record.action == "backup"]
    assert run.kind == "postgres" and run.status == "failed"
    assert run.force_reason.startswith("drill: primary down on purpose (checklist override: healthy FAIL")


async def test_opened_at_a_later_tab_it_stays_there(make_settings, monkeypatch) -> None:
    """Tabs activates its first tab when mounted, after the screen has shown the one asked for: that late
    event once switched to the first list, and each switch queued the next (a screen flipping between
    two lists for ever, every key press waiting on it)."""
    shown: list[str] = []
    show_service = ChecklistScreen.show_service
    monkeypatch.setattr(ChecklistScreen, "show_service",
                        lambda screen, service: (shown.append(service), show_service(screen, service)))
    app = checklist_app(make_settings(), service="redis")
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(5):
            await pilot.pause()
        assert shown == ["redis"]
        assert view_of(app).service == "redis" and app.screen.query_one("Tabs").active == "tab-redis"


async def test_a_bad_checklist_file_shows_the_error_instead_of_the_lists(make_settings, tmp_path) -> None:
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "bad.yaml").write_text("service: x\ntitle: X\nitems:\n  - id: a\n    title: A\n    check: nope.nope\n")
    app = checklist_app(make_settings(**{"checklists.dir": str(lists)}))
    async with app.run_test(size=(80, 24)):
        error = str(app.screen.query_one("#checklist-error").render())
        assert f"{lists / 'bad.yaml'}:6: unknown check 'nope.nope'" in error


async def test_upload_toggle_rechecks_s3_for_real(make_settings, s3_bucket) -> None:
    pytest.importorskip("console.kinds.redis.checks")
    for overrides, state in (({}, Status.FAIL), (s3_bucket, Status.OK)):
        app = checklist_app(make_settings(overrides), service="redis")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: checks_done(app))
            assert view_of(app).run["s3_reachable"].evidence.startswith("skipped: ")
            assert view_of(app).run["s3_reachable"].state is Status.SKIP
            await pilot.press("u")
            await wait_until(pilot, lambda: checks_done(app))
            s3_item = view_of(app).run["s3_reachable"]
            assert s3_item.state is state, s3_item.evidence
            if overrides:
                assert s3_bucket["s3.bucket"] in s3_item.evidence
            else:
                assert "no bucket configured" in s3_item.evidence


async def test_a_backup_with_upload_runs_from_the_checklist_as_an_app_backup_job(
        redis_server, make_settings, s3_bucket, backup_dir) -> None:
    """The backup screen offers no upload, so `u` then `b` runs the backup here: as the same kind of job
    the backup screen starts, which the dashboard and quitting see."""
    pytest.importorskip("console.kinds.redis.backup")
    from screens.backup_job import job_key, find_job, running_jobs
    from screens.checklist import ChecklistBackupFinished

    client = redis_server.client()
    client.mset({f"k{n}": "v" for n in range(1000)})
    client.config_set("rdb-key-save-delay", 2000)  # 2 ms per key: the backup runs for seconds
    settings = make_settings(redis_server.overrides(), s3_bucket)
    app = checklist_app(settings, service="redis")
    finished: list[ChecklistBackupFinished] = []
    async with app.run_test(size=(80, 24),
                            message_hook=lambda m: finished.append(m) if isinstance(m, ChecklistBackupFinished) else None
                            ) as pilot:
        await wait_until(pilot, lambda: checks_done(app))
        await pilot.press("u")
        await wait_until(pilot, lambda: checks_done(app))
        assert gate_text(app).startswith("GATE OPEN"), gate_text(app)
        await pilot.press("b")
        assert isinstance(app.screen, ChecklistScreen) and app.screen.backup_running
        assert [job.request.kind for job in running_jobs(app)] == ["redis"]  # what quitting asks about
        await wait_until(pilot, lambda: bool(finished), timeout=60)
        [done] = set(finished)  # seen by the screen, then by the app it bubbles to
        assert done.result.ok and done.request.upload, done.result.message
        job = find_job(app, job_key(settings, done.request))
        assert job is not None and job.result is done.result and not running_jobs(app)
        assert "OK" in app.screen.backup_line
    [run] = [record for record in read_runs(backup_dir) if record.action == "backup"]
    assert run.status == "ok" and "uploaded" in run.message


async def test_c_on_the_dashboard_opens_the_checklist_of_the_selected_service(make_settings) -> None:
    from screens.dashboard import DashboardScreen

    app = BackupConsoleApp(make_settings(), prober=fixed_prober())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.focused is not None and app.focused.id == "panel-postgres")
        await pilot.press("right", "c")  # the Redis panel
        await wait_until(pilot, lambda: isinstance(app.screen, ChecklistScreen))
        for _ in range(3):
            await pilot.pause()
        assert view_of(app).service == "redis" and app.screen.query_one("Tabs").active == "tab-redis"
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, DashboardScreen))
        await pilot.press("down", "c")  # S3: no checklist of its own, so the first list
        await wait_until(pilot, lambda: isinstance(app.screen, ChecklistScreen))
        assert view_of(app).service == "postgres"
