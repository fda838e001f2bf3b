"""The Backups panel and ``status --json`` tell each target's own truth: its newest set's verification
(not the kind's last report) and its own last run (not another database's)."""

from __future__ import annotations

import uuid

import pytest

from console.kinds import registry
from console.progress import CancelToken
from console.runner import execute
from console.verify.run import verify
from console.verify.state import target_states
from screens.app import BackupConsoleApp
from screens.widgets.backups_panel import BackupsPanel
from tests.clock import next_second
from tests.screens.conftest import fixed_prober, wait_until


@pytest.fixture
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


@pytest.fixture
def history(pg_cluster, two_databases, make_settings):
    """a: backed up, verified, backed up again (newest unverified). b: backed up, verified, then a cancelled run."""
    first, second = two_databases
    settings = make_settings(pg_cluster.overrides(first))
    assert _backup(settings, first).ok and _backup(settings, second).ok
    assert verify(settings, kind="postgres").ok
    newer = _backup(settings, first)
    assert newer.ok
    token = CancelToken()
    token.cancel()
    assert _backup(settings, second, cancel=token).status == "cancelled"
    return settings, first, second, newer.set_id


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
