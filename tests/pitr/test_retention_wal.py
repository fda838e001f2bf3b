"""Retention of archived WAL on a real archiving cluster: two base backups with WAL archived before,
between and after them; the older base backup aged past the policy. `retention plan` lists exactly
the segments older than the newer base backup's start, `retention apply --yes` removes them and the
old base backup, a restore to a moment after the kept base backup still reaches its rows, and a
target that only the removed base backup could reach is refused with the window in the message.
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterator

import psycopg
import pytest

from console.cli import main
from tests.clock import next_second
from tests.pitr.conftest import ArchivedCluster, archiving_cluster, stop_restored


@pytest.fixture(scope="module")
def two_bases(wal_launcher: Path) -> Iterator[ArchivedCluster]:
    from console.kinds.base import BackupRequest
    from console.runner import execute

    with archiving_cluster(wal_launcher, "retention", "retention:\n  min_keep: 1\n") as state:
        cluster = state.cluster

        def commit(row: int) -> None:
            with cluster.connect() as conn:
                before = conn.execute("SELECT clock_timestamp()").fetchone()[0]
                conn.execute("INSERT INTO marker VALUES (%s)", (row,))
                after = conn.execute("SELECT clock_timestamp()").fetchone()[0]
            state.commits.append((row, before, after))

        def base_backup() -> datetime:
            result = execute(state.settings(), BackupRequest("postgres", None, options={"physical": True}))
            assert result.ok, result.message
            return datetime.fromisoformat(result.extra["stop_time"])

        with cluster.connect() as conn:
            conn.execute("CREATE TABLE marker (id int PRIMARY KEY)")
        state.wait_archived()
        state.wait_archived()  # WAL older than either base backup
        state.extra["a_stop"] = base_backup()
        next_second()
        commit(1)  # only base backup A can replay to just after row 1
        state.wait_archived()
        state.wait_archived()
        next_second()  # base backup stamps have one-second resolution
        state.base_stop = base_backup()
        next_second()
        commit(2)
        time.sleep(0.3)
        commit(3)
        state.wait_archived()
        yield state


def _restore(state: ArchivedCluster, moment: datetime, to: Path) -> int:
    return main(["restore", "postgres", "--pitr", "--target-time", moment.isoformat(), "--to", str(to), "--program",
                 str(state.launcher), "--config", str(state.config), "--json", "--wait", "120", "--start"])


def test_retention_removes_the_wal_only_the_aged_base_backup_needed_and_pitr_still_works(two_bases, capsys):
    from console.pitr.layout import list_base_backups
    from console.pitr.plan import plan_restore
    from console.pitr.targets import parse_target
    from console.retention.apply import plan_retention

    state = two_bases
    old, new = list_base_backups(state.backup_dir)
    aged = old.directory.with_name((datetime.now() - timedelta(days=10)).strftime("%Y%m%d_%H%M%S"))
    old.directory.rename(aged)  # base backup A is now ten days old: past the postgres rule's 7 d
    row_1 = state.commits[0][2] + (state.commits[1][1] - state.commits[0][2]) / 10  # after row 1, before B ended
    early = parse_target(time_text=row_1.isoformat())
    assert plan_restore(state.backup_dir, state.archive, early).base.directory == aged  # reachable, through A

    archived = sorted(p.name for p in state.archive.iterdir())
    expected = {name.removesuffix(".zst").removesuffix(".sha256") for name in archived
                if name[:24] < new.metadata["start_wal_file"] and ".history" not in name}
    assert any(name.endswith(".backup") for name in expected) and len(expected) >= 4
    plans = plan_retention(state.settings(), offsite=False)
    listed = {item.name for decision in plans.wal_removals for item in decision.subject.files}
    assert listed == expected
    assert [d.set_id for d in plans.base_removals] == [f"postgres/base/{aged.name}"]
    capsys.readouterr()
    assert main(["retention", "plan", "--json", "--local-only", "--config", str(state.config)]) == 0
    document = json.loads(capsys.readouterr().out)
    wal = document["pitr"]["wal"]
    assert document["wal_files_to_remove"] == len(expected) == sum(r["count"] for r in wal["remove"])
    assert wal["protected_by"] == new.set_id and wal["oldest_needed_segment"] == new.metadata["start_wal_file"]
    assert all(r["reason"] == f"older than the start of the oldest kept base backup {new.set_id} "
                              f"({new.metadata['start_wal_file']})" for r in wal["remove"])

    assert main(["retention", "apply", "--yes", "--local-only", "--json", "--config", str(state.config)]) == 0
    result = json.loads(capsys.readouterr().out)["result"]
    assert result["deleted_wal_files"] == len(expected) and not result["errors"]
    remaining = sorted(p.name for p in state.archive.iterdir())
    assert remaining == [name for name in archived if name.removesuffix(".zst").removesuffix(".sha256") not in expected]
    assert not aged.exists() and [b.set_id for b in list_base_backups(state.backup_dir)] == [new.set_id]
    assert main(["wal", "status", "--json", "--config", str(state.config)]) == 0
    assert json.loads(capsys.readouterr().out)["pitr"]["continuity"]["ok"] is True

    # a moment after the kept base backup: restored, rows 1 and 2
    moment = state.commits[1][2] + (state.commits[2][1] - state.commits[1][2]) / 2
    to = state.work / "after-retention"
    try:
        assert _restore(state, moment, to) == 0, capsys.readouterr().err
        port = json.loads(capsys.readouterr().out)["result"]["port"]
        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                             connect_timeout=5) as conn:
            assert [r[0] for r in conn.execute("SELECT id FROM marker ORDER BY id")] == [1, 2]
    finally:
        stop_restored(to)
        shutil.rmtree(to, ignore_errors=True)
    # a moment only the removed base backup reached: refused before anything is written, with the window
    refused = state.work / "before-the-window"
    assert _restore(state, row_1, refused) == 2
    error = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert "before the end of the oldest base backup" in error["message"] and new.set_id in error["message"]
    assert error["window"]["base_backup"] == new.set_id and not refused.exists()
