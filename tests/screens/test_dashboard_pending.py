"""The Backups panel fills from the catalog while the probes still run.

A hanging server delays only the monitor's findings that need the probes (storage, tools, WAL
archiving): the sets, their STALE and FAILED marks and failed runs come from the catalog and the run
log in the same pass as the panel's lines, and until the probes' findings are in the panel says
PENDING, never OK.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import threading
import time

from console.probes import ServiceState
from console.runlog import RunRecord, record_run
from console.verify.run import verify
from screens.app import BackupConsoleApp
from screens.messages import BackupsScanned
from screens.widgets.backups_panel import BackupsPanel
from screens.widgets.service_panel import ServicePanel
from tests.screens.conftest import fixed_prober, wait_until, widget_text


def _state(app, service):
    panel = app.screen.query_one(f"#panel-{service}", ServicePanel)
    return panel.result.state if panel.result else None


def _lines(backups: BackupsPanel) -> dict[str, str]:
    return {line.split()[0]: line for line in backups.lines if line.split()}


def stale_failed_redis_and_failed_rabbitmq_run(backup_dir, settings) -> None:
    """A redis set three days old whose verification failed; the last rabbitmq run failed."""
    old = (dt.datetime.now() - dt.timedelta(days=3)).strftime("%Y%m%d_%H%M%S")
    (backup_dir / "redis").mkdir(parents=True)
    (backup_dir / "redis" / f"snapshot_{old}.rdb.gz").write_bytes(gzip.compress(b"not an rdb at all"))
    assert verify(settings, kind="redis").sets[0].status == "failed"
    record_run(backup_dir, RunRecord("backup", "rabbitmq", "", "failed", time.time() - 60, time.time() - 50,
                                     "wrong RabbitMQ credentials"))


async def test_stale_and_failed_sets_are_shown_before_a_hanging_probe_times_out(hanging_server, make_settings,
                                                                               backup_dir):
    overrides = {"redis.port": hanging_server.port, "timeout_seconds": 6.0}
    stale_failed_redis_and_failed_rabbitmq_run(backup_dir, make_settings(**overrides))
    app = BackupConsoleApp(make_settings(**overrides))
    scanned: list[BackupsScanned] = []
    hook = lambda message: isinstance(message, BackupsScanned) and scanned.append(message)  # noqa: E731
    async with app.run_test(size=(80, 24), message_hook=hook) as pilot:
        backups = app.screen.query_one(BackupsPanel)
        await wait_until(pilot, lambda: "redis" in _lines(backups), timeout=5.0)
        assert _state(app, "redis") is None  # the redis probe still waits on the hanging server
        lines = _lines(backups)
        assert "3d ago" in lines["redis"] and "STALE" in lines["redis"] and "FAILED" in lines["redis"], lines
        assert "last run FAILED" in lines["rabbitmq"], lines
        assert backups.has_class("-down") and "ALERT" in backups.border_subtitle
        shown = widget_text(app, "#panel-backups")  # what an operator reads, without colour
        assert "PENDING" in shown and "pending:" in shown, shown
        assert "OK" not in backups.border_subtitle

        await wait_until(pilot, lambda: _state(app, "redis") is ServiceState.TIMEOUT, timeout=15.0)
        await wait_until(pilot, lambda: "PENDING" not in backups.border_subtitle)
        assert not any(line.startswith("pending:") for line in backups.lines), backups.lines
        assert "STALE" in _lines(backups)["redis"]
    # Every summary the panel was given that lists the stale set also says it is stale (the regression:
    # a panel filled from the catalog before the monitor's findings showed it without its mark).
    assert len(scanned) >= 2
    for message in scanned:
        summary = message.summary
        assert any(state.kind == "redis" and state.set_id for state in summary.targets)
        assert any(f.id == "freshness:redis" and f.severity == "critical" for f in summary.findings or [])


def gated(prober, gate: threading.Event):
    """``prober`` that first waits for ``gate``: a probe round that ends when the test says so."""
    def run(settings, names=None, on_result=None):  # noqa: ANN001
        assert gate.wait(30)
        return prober(settings, names, on_result)

    return run


def fresh_verified_rabbitmq_set(backup_dir) -> None:
    stamp = dt.datetime.now() - dt.timedelta(hours=2)
    ts = stamp.strftime("%Y%m%d_%H%M%S")
    directory = backup_dir / "rabbitmq"
    directory.mkdir(parents=True)
    (directory / f"definitions_{ts}.json.gz").write_bytes(gzip.compress(b"{}"))
    (directory / f"backup_{ts}.json").write_text(json.dumps({
        "producer": "backup-console 0.1.0", "kind": "rabbitmq", "verification_status": "passed",
        "verification": {"time": (stamp + dt.timedelta(minutes=30)).astimezone().isoformat(timespec="seconds")}}))


async def test_the_panel_says_pending_not_ok_until_the_probe_findings_are_in(make_settings, backup_dir):
    fresh_verified_rabbitmq_set(backup_dir)
    gate = threading.Event()
    settings = make_settings(**{"alerts.scheduled_kinds": ["rabbitmq"]})
    app = BackupConsoleApp(settings, prober=gated(fixed_prober(), gate))
    async with app.run_test(size=(80, 24)) as pilot:
        backups = app.screen.query_one(BackupsPanel)
        await wait_until(pilot, lambda: "rabbitmq" in _lines(backups), timeout=5.0)
        assert "verified" in _lines(backups)["rabbitmq"] and "STALE" not in _lines(backups)["rabbitmq"]
        assert backups.border_subtitle == "PENDING" and not backups.has_class("-up")
        assert any(line.startswith("pending:") for line in backups.lines), backups.lines
        gate.set()
        await wait_until(pilot, lambda: backups.border_subtitle != "PENDING")
        assert backups.border_subtitle == "OK" and backups.has_class("-up")
        assert not any(line.startswith("pending:") for line in backups.lines), backups.lines
