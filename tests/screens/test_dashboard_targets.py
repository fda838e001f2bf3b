"""The Backups panel and ``status --json`` tell each target's own truth: its newest set's verification
(not the kind's last report) and its own last run (not another database's)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from console.backup_summary import BackupSummary
from console.kinds import registry
from console.monitor import Finding
from console.progress import CancelToken
from console.runlog import RunRecord
from console.runner import execute
from console.verify.run import verify
from console.verify.state import TargetState, target_states
from screens.app import BackupConsoleApp
from screens.messages import BackupsScanned
from screens.widgets.backups_panel import BackupsPanel
from tests.clock import next_second
from tests.screens.conftest import FROZEN_NOW, fixed_prober, screen_lines, wait_until


@pytest.fixture(scope="module")
def two_databases(pg_cluster):
    names = [f"t_{uuid.uuid4().hex[:8]}_{suffix}" for suffix in ("a", "b")]
    for name in names:
        pg_cluster.create_database(name)
    yield names
    with pg_cluster.connect() as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _backup(settings, database, cancel=None):
    result = execute(settings, registry.get("postgres").request(settings, database), cancel=cancel)
    next_second()  # set ids have one-second stamps
    return result


@pytest.fixture(scope="module")
def history_template(pg_cluster, two_databases, tmp_path_factory):
    """a: backed up, verified, backed up again (newest unverified). b: backed up, verified, then a cancelled run.

    Made once per module (four backups, about 4 s); each test reads a copy of its BACKUP_DIR."""
    from console.config import load_settings

    first, second = two_databases
    template = tmp_path_factory.mktemp("targets-history") / "backups"
    settings = load_settings(None, env={}, overrides={**pg_cluster.overrides(first), "backup_dir": str(template),
                                                      "timeout_seconds": 2.0})
    assert _backup(settings, first).ok and _backup(settings, second).ok
    assert verify(settings, kind="postgres").ok
    newer = _backup(settings, first)
    assert newer.ok
    token = CancelToken()
    token.cancel()
    assert _backup(settings, second, cancel=token).status == "cancelled"
    return template, first, second, newer.set_id


@pytest.fixture
def history(history_template, pg_cluster, make_settings, backup_dir):
    import shutil

    template, first, second, newer = history_template
    shutil.copytree(template, backup_dir, symlinks=True)
    return make_settings(pg_cluster.overrides(first)), first, second, newer


def test_each_target_has_its_own_verification_and_last_run(history):
    settings, first, second, newer = history
    states = {state.name: state for state in target_states(settings) if state.kind == "postgres"}
    assert states[first].set_id == newer and states[first].verification == "unverified"
    assert states[first].last_run.status == "ok"
    assert states[second].verification == "verified" and states[second].verified_at
    assert states[second].last_run.status == "cancelled"


async def test_backups_panel_shows_one_line_per_database_with_its_own_state(history):
    settings, first, second, _ = history
    app = BackupConsoleApp(settings, prober=fixed_prober())
    async with app.run_test(size=(80, 24)) as pilot:
        backups = app.screen.query_one(BackupsPanel)
        await wait_until(pilot, lambda: "never" in str(backups.render()))
        lines = {line.split()[0]: line for line in backups.lines}
        line_a, line_b = lines[f"postgres/{first}"], lines[f"postgres/{second}"]
        assert "unverified" in line_a and "CANCELLED" not in line_a, line_a
        assert "verified" in line_b and "unverified" not in line_b and "last run CANCELLED" in line_b, line_b


def test_status_json_gives_each_last_backup_its_verification_status(history):
    from console.cli.status import collect_status

    settings, first, second, newer = history
    document = collect_status(settings, service="storage")
    document.pop("_results")
    entries = {entry["name"]: entry for entry in document["last_backups"] if entry["kind"] == "postgres"}
    assert entries[first]["verification_status"] == "unverified" and entries[first]["set_id"] == newer
    assert entries[second]["verification_status"] == "verified" and entries[second]["verified_at"]
    assert entries[second]["last_run"]["status"] == "cancelled"


def crowded_summary(now: float):
    """Five PostgreSQL databases with long names and every state, the other kinds, the monitor's findings
    about them, and three it has besides: more than the Backups panel holds at 80x24."""
    def target(name, age, verification, run=None, kind="postgres", verified_ago=None):
        verified_at = None if verified_ago is None else dt.datetime.fromtimestamp(now - verified_ago).astimezone() \
            .isoformat(timespec="seconds")
        return TargetState(kind, name, None if age is None else f"{kind}:{name}", None if age is None else now - age,
                           None, verification, verified_at, None,
                           None if run is None else RunRecord("backup", kind, name, run, now - 610, now - 600), )

    targets = [target("analytics_events", 3600, "verified", "failed", verified_ago=7200),
               target("billing_ledger", 7200, "unverified", "cancelled"),
               target("app", 90000, "failed"),
               target("reporting", 3600, "verified", verified_ago=1800),
               target("audit_log", 3600, "verified", verified_ago=1800),
               target("redis", 3600, "warning", kind="redis"),
               target("rabbitmq", 3600, "verified", kind="rabbitmq", verified_ago=1800),
               target("config", 3600, "verified", kind="config", verified_ago=1800),
               target("certs", 3600, "verified", kind="certs", verified_ago=1800)]
    findings = [Finding("backup_failed:postgres/analytics_events", "backup_failed", "critical",
                        "postgres/analytics_events", "last postgres/analytics_events backup failed: pg_dump exited 1"),
                Finding("freshness:postgres/app", "freshness", "critical", "postgres/app",
                        "postgres/app backup is stale (1 day ago)"),
                Finding("verification:postgres/app", "verification", "critical", "postgres/app",
                        "newest postgres/app backup failed verification"),
                Finding("wal", "wal_archiving", "critical", "postgres",
                        "WAL archiving failing: 3 failures since 02:00 (000000010000000000000003)"),
                Finding("space", "space", "warning", "storage", "backup volume 91% full: retention apply frees space"),
                Finding("cert", "certificates", "critical", "certs", "api.example.com expires in 2 days")]
    return BackupSummary(targets, [], findings, None)


async def test_the_backups_panel_fits_80x24_alerts_and_troubled_targets_first(make_settings):
    app = BackupConsoleApp(make_settings(), clock=lambda: FROZEN_NOW, prober=fixed_prober())
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        app.screen._timer and app.screen._timer.stop()
        backups = app.screen.query_one(BackupsPanel)
        app.screen.post_message(BackupsScanned(crowded_summary(FROZEN_NOW.timestamp())))
        await wait_until(pilot, lambda: "analytics_events" in " ".join(backups.lines))
        await pilot.pause()
        rows = screen_lines(app)
        top = next(index for index, row in enumerate(rows) if "─ Backups ─" in row)
        bottom = next(index for index, row in enumerate(rows) if "ALERT(S)" in row)
        assert top < bottom < 23, rows  # the border is whole, above the footer
        inside = [row[3:-3].rstrip() for row in rows[top + 1:bottom]]
        assert not any(row.endswith("…") for row in inside), inside  # no target or alert line is cut
        text = "\n".join(inside)
        for troubled in ("postgres/analytics_events", "run FAILED", "postgres/billing_ledger", "run CANCELLED",
                         "postgres/app", "STALE  FAILED", "ALERT: WAL archiving failing",
                         "(000000010000000000000003)",  # an alert too long for a row goes on over the next
                         "ALERT: api.example.com expires in 2 days"):
            assert troubled in text, inside
        assert "postgres/audit_log" not in text  # quiet lines wait behind enter
        assert inside[-1].startswith("... ") and "enter shows every line" in inside[-1]
        assert "verified 2h ago  last run FAILED 10m ago" in backups.lines[0]  # enter shows the long words


async def test_a_configured_database_never_backed_up_has_its_own_line(make_settings, backup_dir):
    """Two databases configured, one backed up: the other is a target line saying "never", like config and
    certs, not only an ALERT sentence at the bottom of the panel."""
    (backup_dir / "postgres").mkdir(parents=True)
    (backup_dir / "postgres" / "backup_shop_20261125_020000.dump").write_bytes(b"x")
    settings = make_settings(**{"postgres.databases": ["shop", "billing"]})
    app = BackupConsoleApp(settings, clock=lambda: FROZEN_NOW, prober=fixed_prober())
    async with app.run_test(size=(80, 24)) as pilot:
        backups = app.screen.query_one(BackupsPanel)
        await wait_until(pilot, lambda: any(line.startswith("ALERT") or "billing" in line for line in backups.lines))
        words = {line.split()[0]: line.split()[1:] for line in backups.lines}
        assert words["postgres/shop"][:2] == ["1h", "ago"]
        assert words["postgres/billing"] == ["never"], backups.lines
        assert not [line for line in backups.lines if "billing" in line and line.startswith("ALERT")], backups.lines
        assert [line.split()[0] for line in backups.lines[:4]] == ["postgres/billing", "postgres/shop", "redis",
                                                                   "rabbitmq"]  # in target order, as status lists them


async def test_the_database_called_postgres_is_named_like_any_other(pg_cluster, make_settings):
    """The manual's default database is called postgres, like the kind: its line is postgres/postgres, the
    same before and after its first backup, and the monitor's findings about it land on that line."""
    settings = make_settings(pg_cluster.overrides("postgres"))
    assert _backup(settings, "postgres").ok
    (state,) = [state for state in target_states(settings) if state.kind == "postgres"]
    assert state.label == "postgres/postgres"
    app = BackupConsoleApp(settings, prober=fixed_prober())
    async with app.run_test(size=(80, 24)) as pilot:
        backups = app.screen.query_one(BackupsPanel)
        await wait_until(pilot, lambda: bool(backups.lines) and backups.findings)
        postgres_lines = [line for line in backups.lines if line.startswith("postgres")]
        assert [line.split()[0] for line in postgres_lines] == ["postgres/postgres"], backups.lines
        assert not [line for line in backups.lines if line.startswith(("ALERT", "warn")) and "postgres/postgres"
                    in line], backups.lines
