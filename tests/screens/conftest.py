"""Helpers for driving the app with Pilot: frozen clocks, fixed probe results, waiting for workers."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from typing import Callable

import pytest
from rich.console import Console

from console.probes import SERVICES, ProbeResult, ServiceState

FROZEN_NOW = dt.datetime(2026, 11, 25, 3, 0, 0).astimezone()


def frozen_clock() -> dt.datetime:
    return FROZEN_NOW


def fixed_prober(states: dict[str, tuple[ServiceState, str]] | None = None) -> Callable[..., list[ProbeResult]]:
    """A prober with fixed results, for snapshots only (behaviour tests probe real services)."""
    defaults = {
        "postgres": (ServiceState.UP, "PostgreSQL 15.20 primary, 4/100 connections",
                     {"database_size_bytes": 3_200_000_000, "connections": 4, "longest_transaction_seconds": 12.0,
                      "archive_mode": "on", "archive_failed_count": 0}),
        "redis": (ServiceState.DEGRADED, "last BGSAVE failed",
                  {"used_memory_bytes": 1_450_000, "keys": 1234, "rdb_last_bgsave_status": "err"}),
        "rabbitmq": (ServiceState.UP, "RabbitMQ 3.10.8, 1/1 nodes, 12 queues",
                     {"nodes_running": 1, "queues": 12, "messages_ready": 40}),
        "s3": (ServiceState.UNCONFIGURED, "no bucket configured (BACKUP_S3_BUCKET)", {}),
        "storage": (ServiceState.UP, "41.0 GB free (62 %), backups use 3.1 GB",
                    {"free_bytes": 41_000_000_000, "backups_bytes": 3_100_000_000, "free_pct": 62.0}),
        "certs": (ServiceState.DOWN, "1 certificate expires in 5 days (api.example.com)",
                  {"count": 12, "soonest_days": 5, "expired": 0}),
    }
    overrides = states or {}

    def prober(settings, names=None, on_result=None):  # noqa: ANN001
        from console.probes import jobs

        results = []
        for name, instance in jobs(settings, names):
            label = name if instance == "default" else f"{name}/{instance}"
            state, detail, metrics = defaults.get(name, (ServiceState.UP, f"{name} fine", {}))
            if label in overrides or name in overrides:
                state, detail = overrides.get(label) or overrides[name]
            result = ProbeResult(name, SERVICES[name][1], state, detail, 5.0, metrics, checked_at=FROZEN_NOW.timestamp(),
                                 instance=instance)
            results.append(result)
            if on_result:
                on_result(result)
        return results

    return prober


FLEET = """\
backup_dir: {backup_dir}
timeout_seconds: 2
postgres:
  databases: [shop]
  instances:
    main: {{host: db1.internal}}
    analytics: {{host: db2.internal, port: 5433, tags: {{env: prod, team: data}}}}
    reporting: {{host: db3.internal, tags: {{env: staging}}}}
redis:
  instances:
    cache: {{host: 127.0.0.1, port: 6379}}
    queue: {{host: 127.0.0.1, port: 6380, tags: {{env: prod}}}}
"""
"""Three PostgreSQL clusters (main, analytics, reporting) and two Redis servers (cache, queue)."""

FLEET_STATES = {"postgres/analytics": (ServiceState.DOWN, "connection refused (db2.internal:5433)")}
"""In the fleet, analytics is down."""


def twenty_instances_yaml(backup_dir) -> str:  # noqa: ANN001
    """Fourteen PostgreSQL clusters and six Redis servers, every third one tagged env=prod."""
    lines = [f"backup_dir: {backup_dir}", "timeout_seconds: 2", "postgres:", "  instances:"]
    for number in range(1, 15):
        tags = ", tags: {env: prod}" if number % 3 == 0 else ""
        lines.append(f"    pg{number:02d}: {{host: db{number}.internal{tags}}}")
    lines += ["redis:", "  instances:"]
    for number in range(1, 7):
        tags = ", tags: {env: prod}" if number % 3 == 0 else ""
        lines.append(f"    cache{number}: {{port: {6380 + number}{tags}}}")
    return "\n".join(lines) + "\n"


TWENTY_STATES = {"postgres/pg04": (ServiceState.DOWN, "connection refused (db4.internal:5432)"),
                 "redis/cache2": (ServiceState.TIMEOUT, "no answer within 2 s")}


def fleet_settings(tmp_path, backup_dir, text: str | None = None):  # noqa: ANN001
    """Settings loaded from a config file with named instances (FLEET unless ``text``)."""
    from console.config import load_settings

    path = tmp_path / "fleet.yaml"
    path.write_text(text if text is not None else FLEET.format(backup_dir=backup_dir))
    return load_settings(path, env={})


async def wait_until(pilot, condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Let the app run until ``condition()`` holds (key presses keep being processed meanwhile)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await pilot.pause(0.05)


async def redraw_tables(pilot) -> None:
    """Redraw every DataTable on the screen from scratch; call it once the rows had time to settle.

    Textual's DataTable caches drawn cells by content version, not by column width: a frame drawn
    between ``add_row`` and the table's idle (when it measures the new rows) keeps auto-width
    columns cut at their old width until the content changes again. A snapshot taken then is wrong
    about one run in twenty on a loaded machine; clearing the caches (which changing
    ``zebra_stripes`` does) before the screenshot makes it draw what the rows hold.
    """
    from textual.widgets import DataTable

    await pilot.pause()
    for table in pilot.app.screen.query(DataTable):
        table.zebra_stripes = not table.zebra_stripes
        table.zebra_stripes = not table.zebra_stripes
    await pilot.pause()


@pytest.fixture
def clock() -> Callable[[], dt.datetime]:
    return frozen_clock


def screen_lines(app) -> list[str]:  # noqa: ANN001
    """The screen as plain text, one string per terminal row (what an operator reads, colours aside)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True, color_system=None,
                      force_terminal=True, legacy_windows=False)
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text().splitlines()


def widget_text(app, selector: str) -> str:  # noqa: ANN001
    """What the screen shows inside one widget's region, its rows joined by spaces, runs of blanks as one
    (a line the widget wraps reads whole; one it cuts at its edge does not)."""
    region = app.screen.query_one(selector).region
    rows = [row[region.x:region.right] for row in screen_lines(app)[region.y:region.bottom]]
    return " ".join(" ".join(row.strip(" │║").split()) for row in rows)
