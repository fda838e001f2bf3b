"""The Backup screen offers the instance when a kind has several; the request (pre-flight, run, job)
carries it. The engine is a recording stand-in: the runner itself is tested against real services."""

from __future__ import annotations

from textual.widgets import Select

from console.kinds.base import BackupResult
from console.preflight import CheckResult
from console.status import Status
from screens.app import BackupConsoleApp
from screens.backup import BackupScreen
from screens.backup_job import BackupEngine
from tests.screens.conftest import fixed_prober, fleet_settings, frozen_clock, wait_until

TWO_CLUSTERS = """\
backup_dir: {backup_dir}
timeout_seconds: 1
postgres:
  host: 127.0.0.1
  port: 1
  instances:
    main: {{databases: [shop]}}
    analytics: {{databases: [events, clicks], tags: {{env: prod}}}}
"""


class RecordingEngine:
    def __init__(self) -> None:
        self.preflights = []
        self.runs = []
        self.engine = BackupEngine(preflight=self.preflight, execute=self.execute)

    def preflight(self, settings, request):  # noqa: ANN001
        self.preflights.append(request)
        return [CheckResult("common.backup_dir", "backup directory writable", Status.OK, "ok")]

    def execute(self, settings, request, on_progress=None, cancel=None):  # noqa: ANN001
        self.runs.append(request)
        return BackupResult(request.kind, request.target or "", "ok", "done", instance=request.instance)


def _select(app, selector) -> Select:
    return app.screen.query_one(selector, Select)


async def test_a_kind_with_several_instances_offers_them_and_the_request_names_the_chosen_one(tmp_path, backup_dir):
    settings = fleet_settings(tmp_path, backup_dir, TWO_CLUSTERS.format(backup_dir=backup_dir))
    recorder = RecordingEngine()
    app = BackupConsoleApp(settings, clock=frozen_clock, prober=fixed_prober(), start_screen="backup",
                           start_kwargs={"kind": "postgres", "engine": recorder.engine})
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, BackupScreen)
        await wait_until(pilot, lambda: screen.checks is not None)
        instances = _select(app, "#backup-instance")
        assert instances.display and [str(prompt) for prompt, _ in instances._options] == ["main", "analytics"]
        assert (screen.instance, screen.target) == ("main", "shop")
        assert recorder.preflights[-1].instance == "main"
        instances.value = "analytics"
        await wait_until(pilot, lambda: screen.target == "events" and recorder.preflights[-1].instance == "analytics")
        assert [value for _, value in _select(app, "#backup-target")._options][-2:] == ["events", "clicks"]
        await wait_until(pilot, lambda: screen.checks is not None)
        await pilot.press("b")
        await wait_until(pilot, lambda: screen.job is not None and not screen.job.running)
        run = recorder.runs[-1]
        assert (run.kind, run.instance, run.target) == ("postgres", "analytics", "events")
        assert screen.job.key == "postgres-events@analytics"
        await wait_until(pilot, lambda: screen.query_one("#backup-summary").display)
        assert str(screen.query_one("#backup-summary").render()).startswith("OK: postgres/analytics backup of events")
        _select(app, "#backup-kind").value = "redis"  # one instance: no instance picker
        await wait_until(pilot, lambda: screen.kind == "redis" and not instances.display)
        assert screen.instance == "default"


async def test_the_instance_can_be_given_when_the_screen_opens(tmp_path, backup_dir):
    settings = fleet_settings(tmp_path, backup_dir, TWO_CLUSTERS.format(backup_dir=backup_dir))
    recorder = RecordingEngine()
    app = BackupConsoleApp(settings, clock=frozen_clock, prober=fixed_prober(), start_screen="backup",
                           start_kwargs={"kind": "postgres", "instance": "analytics", "engine": recorder.engine})
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.checks is not None)
        assert _select(app, "#backup-instance").value == "analytics"
        assert recorder.preflights[-1].instance == "analytics" and screen.target == "events"


async def test_jobs_of_two_instances_are_kept_apart(tmp_path, backup_dir):
    from console.kinds import registry
    from screens.backup_job import job_key

    settings = fleet_settings(tmp_path, backup_dir, TWO_CLUSTERS.format(backup_dir=backup_dir))
    kind = registry.get("postgres")
    main = job_key(settings, kind.request(settings, "shop", instance="main"))
    analytics = job_key(settings, kind.request(settings, "shop", instance="analytics"))
    assert main != analytics and analytics == "postgres-shop@analytics"
