"""The drill from the command palette (ctrl+p, type, enter), and `r` re-running its automated
checks against a real Redis that is stopped in between: the new results are shown and stamped."""

from __future__ import annotations

import json

from console.status import Status
from screens.app import BackupConsoleApp
from screens.dashboard import DashboardScreen
from screens.drill import DrillScreen
from tests.screens.conftest import fixed_prober, wait_until
from tests.screens.test_checklist_screen import checks_done, view_of


def stamped(screen: DrillScreen, item: str) -> list[dict]:
    """The steps of one checklist item in the drill record on disk."""
    document = json.loads(screen.drill.json_path.read_text())
    return [step for step in document["steps"] if step.get("item") == item]


async def test_palette_opens_the_drill_and_r_reruns_the_checks(pg_cluster, make_redis_server, make_settings) -> None:
    redis = make_redis_server()
    settings = make_settings(pg_cluster.overrides(), redis.overrides())
    app = BackupConsoleApp(settings, prober=fixed_prober())
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("ctrl+p")
        await pilot.press(*"Drill: start")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DrillScreen))
        screen = app.screen
        assert screen.recording and screen.drill.name == "incident drill"
        assert str(screen.query_one("#drill-bar").render()).startswith("DRILL ")
        await wait_until(pilot, lambda: checks_done(app), timeout=30)  # the first list's checks, on opening

        await pilot.press("2")
        await wait_until(pilot, lambda: view_of(app).service == "redis" and checks_done(app), timeout=30)
        view = view_of(app)
        assert view.run["healthy"].state is Status.OK, view.run["healthy"].evidence
        assert [step["outcome"] for step in stamped(screen, "redis.healthy")] == ["ok"]

        redis.stop()
        await pilot.press("r")
        await wait_until(pilot, lambda: checks_done(app) and view.run["healthy"].state is not Status.OK, timeout=30)

        assert view.run["healthy"].state is Status.FAIL
        assert str(redis.port) in view.run["healthy"].evidence
        steps = stamped(screen, "redis.healthy")
        assert [step["outcome"] for step in steps] == ["ok", "fail"]  # evaluated again, and stamped again
        assert steps[1]["started"] >= steps[0]["ended"]
        assert isinstance(app.screen, DrillScreen)  # r re-checks; it does not leave the drill

        await pilot.press("e")
        assert screen.drill.status == "completed"
