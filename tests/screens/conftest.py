"""Helpers for driving the app with Pilot: frozen clocks, fixed probe results, waiting for workers."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Callable

import pytest

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
        results = []
        for name in names or list(SERVICES):
            state, detail, metrics = defaults.get(name, (ServiceState.UP, f"{name} fine", {}))
            if name in overrides:
                state, detail = overrides[name]
            result = ProbeResult(name, SERVICES[name][1], state, detail, 5.0, metrics, checked_at=FROZEN_NOW.timestamp())
            results.append(result)
            if on_result:
                on_result(result)
        return results

    return prober


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
