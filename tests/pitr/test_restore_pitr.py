"""Point-in-time recovery end to end: a real cluster archiving through ``wal push`` (as the postgres
user), a base backup, marker rows committed at known times across several segment switches, then
restores to moments inside the window, refusals outside it, and a timeline switch.

One archived cluster serves the whole module; the timeline test runs last because it adds
timeline 2 to the shared archive.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import psycopg
import pytest

from console.cli import main
from tests.pitr.conftest import (ArchivedCluster, archiving_cluster, cancel_a_base_backup,
                                 copy_with_a_changed_data_file, half_tar_copy, stop_restored)
from tests.servers import PgCluster

ROWS = 8
SEED = 16


@pytest.fixture(scope="module")
def archived(wal_launcher: Path) -> Iterator[ArchivedCluster]:
    from console.kinds.base import BackupRequest
    from console.runner import execute
    from console.pitr.marks import create_restore_point

    with archiving_cluster(wal_launcher, "pitr", "  base_compression: zstd\n") as state:  # compressed here;
        # tests/pitr/test_base_compression.py: by the server
        cluster = state.cluster
        with cluster.connect() as conn:
            conn.execute("CREATE TABLE marker (id int PRIMARY KEY, note text)")
        state.wait_archived()
        result = execute(state.settings(), BackupRequest("postgres", None, options={"physical": True}))
        assert result.ok, result.message
        state.base_stop = datetime.fromisoformat(result.extra["stop_time"])
        time.sleep(1.0)  # the first row commits a second after the stop time: targets fit between them
        with cluster.connect() as conn:
            for row in range(1, ROWS + 1):
                before = conn.execute("SELECT clock_timestamp()").fetchone()[0]
                conn.execute("INSERT INTO marker VALUES (%s, %s)", (row, f"row {row}"))
                after = conn.execute("SELECT clock_timestamp()").fetchone()[0]
                state.commits.append((row, before, after))
                if row == 4:
                    point = create_restore_point(state.settings(), "after-row-4")
                    state.extra["point_lsn"] = point.lsn
                if row % 2 == 0:
                    state.wait_archived()
                time.sleep(0.25)
        state.wait_archived()
        yield state


def _restore(state: ArchivedCluster, *target: str, to: Path, start: bool = True) -> tuple[int, dict]:
    argv = ["restore", "postgres", "--pitr", *target, "--to", str(to), "--program", str(state.launcher),
            "--config", str(state.config), "--json", "--wait", "120"]
    return main(argv + (["--start"] if start else [])), {}


def _rows(port: int) -> list[int]:
    with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", connect_timeout=5) as conn:
        return [row[0] for row in conn.execute("SELECT id FROM marker ORDER BY id").fetchall()]


def _restore_and_read(state: ArchivedCluster, capsys: pytest.CaptureFixture[str], *target: str) -> list[int]:
    to = state.work / f"restored-{time.monotonic_ns()}"
    capsys.readouterr()
    code, _ = _restore(state, *target, to=to)
    out = capsys.readouterr()
    try:
        assert code == 0, out.err
        document = json.loads(out.out)
        assert document["result"]["reached"] is True
        return _rows(document["result"]["port"])
    finally:
        stop_restored(to)
        shutil.rmtree(to, ignore_errors=True)


def _moment_between(rng: random.Random, after: datetime, before: datetime) -> datetime:
    span = (before - after).total_seconds()
    return after + timedelta(seconds=span * (0.2 + 0.6 * rng.random()))


def test_restores_to_random_moments_return_exactly_the_rows_committed_before(archived, capsys):
    rng = random.Random(SEED)
    commits = archived.commits
    gaps = [(archived.base_stop + timedelta(milliseconds=500), commits[0][1])]
    gaps += [(commits[i][2], commits[i + 1][1]) for i in range(len(commits) - 1)]
    chosen = rng.sample(range(len(gaps)), 7)
    for index in chosen:
        moment = _moment_between(rng, *gaps[index])
        # alternate the spellings the CLI accepts: Z, an offset, local time
        spelled = [moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
                   moment.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat(),
                   moment.astimezone().replace(tzinfo=None).isoformat(sep=" ")][index % 3]
        assert _restore_and_read(archived, capsys, "--target-time", spelled) == list(range(1, index + 1)), spelled


def test_restore_to_a_named_restore_point_and_to_an_lsn(archived, capsys):
    assert _restore_and_read(archived, capsys, "--target-name", "after-row-4") == [1, 2, 3, 4]
    assert _restore_and_read(archived, capsys, "--target-lsn", archived.extra["point_lsn"]) == [1, 2, 3, 4]
    to = archived.work / "beyond-lsn"
    capsys.readouterr()
    assert _restore(archived, "--target-lsn", "F/0", to=to)[0] == 2
    assert "after the last archived WAL record" in capsys.readouterr().err and not to.exists()
    assert _restore(archived, "--target-name", "no-such-point", to=to)[0] == 2
    assert "no restore point named 'no-such-point' (known: after-row-4)" in capsys.readouterr().err


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_target_outside_the_window_is_refused_before_anything_is_written(archived, capsys, when):
    moment = (archived.base_stop - timedelta(minutes=5) if when == "before"
              else datetime.now(timezone.utc) + timedelta(hours=1))
    to = archived.work / f"refused-{when}"
    capsys.readouterr()
    code, _ = _restore(archived, "--target-time", moment.isoformat(), to=to)
    err = capsys.readouterr().err
    assert code == 2
    assert not to.exists()
    document = json.loads(err.strip().splitlines()[-1])
    assert document["message_type"] == "exit_error" and document["window"]["start"] and document["window"]["end"]
    assert ("before the end of the oldest base backup" if when == "before" else "not before the last archived commit") \
        in document["message"]


def test_no_target_or_an_occupied_destination_is_refused(archived, capsys):
    to = archived.work / "occupied"
    to.mkdir()
    (to / "PG_VERSION").write_text("15\n")
    moment = archived.commits[2][2].isoformat()
    assert main(["restore", "postgres", "--pitr", "--to", str(archived.work / "x"), "--config",
                 str(archived.config)]) == 2
    assert "exactly one of --target-time" in capsys.readouterr().err
    assert main(["restore", "postgres", "--pitr", "--target-time", moment, "--to", str(to), "--config",
                 str(archived.config)]) == 2
    assert "is not empty" in capsys.readouterr().err
    # --in-place --yes on a directory with a live postmaster: refused
    live = archived.cluster.data
    assert main(["restore", "postgres", "--pitr", "--target-time", moment, "--to", str(live), "--in-place", "--yes",
                 "--config", str(archived.config)]) == 2
    assert "postmaster" in capsys.readouterr().err
    assert not (archived.work / "x").exists()


def test_in_place_on_a_stopped_cluster_moves_the_old_directory_aside(archived, capsys):
    stopped = archived.work / "stopped-data"
    stopped.mkdir()
    (stopped / "PG_VERSION").write_text("15\n")
    (stopped / "postmaster.pid").write_text("999999\n")  # left by a crash: no such process
    capsys.readouterr()
    assert main(["restore", "postgres", "--pitr", "--target-time", archived.commits[3][2].isoformat(), "--to",
                 str(stopped), "--in-place", "--yes", "--program", str(archived.launcher), "--json",
                 "--config", str(archived.config)]) == 0
    result = json.loads(capsys.readouterr().out)["result"]
    aside = Path(result["moved_aside"])
    assert (aside / "postmaster.pid").read_text() == "999999\n"
    assert (stopped / "recovery.signal").is_file() and (stopped / "backup_label").is_file()
    auto = (stopped / "postgresql.auto.conf").read_text()
    assert "archive_mode = 'off'" in auto and "recovery_target_time = '" in auto and "+00'" in auto
    assert f"wal get --archive-dir {archived.archive} %f %p" in auto
    shutil.rmtree(stopped)
    shutil.rmtree(aside)


def test_a_missing_segment_is_named_and_targets_beyond_it_are_refused(archived, capsys):
    from console.pitr import archive as wal_archive

    with archived.cluster.connect() as conn:
        first_row_segment = conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()[0]
    stored = sorted(p for p in archived.archive.glob("0000000100000000000000*.zst"))
    victim = stored[len(stored) // 2]
    name = victim.name[:-len(".zst")]
    aside = archived.work / "aside"
    aside.mkdir(exist_ok=True)
    moved = [victim, archived.archive / (name + wal_archive.SUFFIX_SUM)]
    for path in moved:
        shutil.move(str(path), aside / path.name)
    try:
        capsys.readouterr()
        assert main(["wal", "status", "--json", "--config", str(archived.config)]) == 1
        status = json.loads(capsys.readouterr().out)
        assert status["pitr"]["continuity"]["first_gap"] == name
        to = archived.work / "beyond-gap"
        code, _ = _restore(archived, "--target-time", archived.commits[-1][2].isoformat(), to=to)
        err = capsys.readouterr().err
        assert code == 2 and name in err and not to.exists()
    finally:
        for path in moved:
            shutil.move(str(aside / path.name), path)
    assert first_row_segment  # the cluster kept running while the archive had a hole


def test_wal_status_reports_the_window_and_continuity(archived, capsys):
    capsys.readouterr()
    assert main(["wal", "status", "--json", "--config", str(archived.config)]) == 0
    status = json.loads(capsys.readouterr().out)
    window = status["recovery_window"]
    assert window["end_source"].startswith("pg_waldump")
    end = datetime.fromisoformat(window["end"])
    assert archived.commits[-1][1] <= end <= archived.commits[-1][2]
    assert datetime.fromisoformat(window["start"]) == archived.base_stop
    assert status["pitr"]["continuity"]["ok"] is True
    assert [p["name"] for p in status["pitr"]["restore_points"]] == ["after-row-4"]
    # the same window in status --json, the monitor's Prometheus file and the dashboard panel's line
    assert main(["status", "--service", "postgres", "--json", "--config", str(archived.config)]) == 0
    shown = json.loads(capsys.readouterr().out)["recovery_window"]
    assert shown["end"] == window["end"] and shown["summary"].startswith("recoverable ")
    from console.monitor import collect
    from console.prometheus import render
    from console.probes import probe_all

    probes = {result.name: result for result in probe_all(archived.settings(), ["postgres", "storage"])}
    text = render(collect(archived.settings(), probes=probes, certificates=False))
    end_line = next(line for line in text.splitlines()
                    if line.startswith('backup_console_postgres_recovery_window_end_timestamp_seconds{instance="default"} '))
    assert abs(float(end_line.split()[1]) - end.timestamp()) < 0.01
    assert 'backup_console_postgres_recovery_window_start_timestamp_seconds{instance="default"} ' in text
    assert 'backup_console_postgres_wal_archive_lag_seconds{instance="default"} ' in text
    from screens.widgets.service_panel import window_line

    line = window_line(probes["postgres"].metrics, now=end.timestamp() + 180)
    assert line is not None and line.startswith("PITR ") and line.endswith(", 3m behind")


def test_verify_physical_passes_and_pg_verifybackup_catches_a_damaged_file(archived, tmp_path, capsys):
    from console.pitr.layout import list_base_backups
    from console.pitr.verify import verify_base_backup

    assert main(["verify", "--physical", "--config", str(archived.config)]) == 0
    base = list_base_backups(archived.backup_dir)[0]
    # a copy whose tar carries one changed data file, re-compressed with a matching sha256: only
    # pg_verifybackup (the manifest's per-file checksums) can tell
    changed = copy_with_a_changed_data_file(base, tmp_path)
    damaged = list_base_backups(tmp_path)[0]
    report = verify_base_backup(damaged)
    failed = [check for check in report.checks if check["status"] == "failed"]
    assert not report.ok and [check["check"] for check in failed] == ["pg_verifybackup"]
    assert changed in failed[0]["message"]


def test_a_cancelled_base_backup_leaves_nothing_and_is_logged(archived):
    from console.runlog import read_runs

    cancel_a_base_backup(archived)
    assert read_runs(archived.backup_dir)[-1].status == "cancelled"


def test_a_damaged_base_backup_leaves_no_half_restored_directory(archived, tmp_path, capsys):
    from console.pitr.layout import list_base_backups

    config = half_tar_copy(archived, list_base_backups(archived.backup_dir)[0], "base.tar.zst", tmp_path)
    to = archived.work / "half"
    capsys.readouterr()
    assert main(["restore", "postgres", "--pitr", "--target-time", archived.commits[2][2].isoformat(), "--to",
                 str(to), "--program", str(archived.launcher), "--config", str(config)]) == 1
    assert "cannot be unpacked" in capsys.readouterr().err
    assert not to.exists()


def test_wal_prune_previews_then_removes_only_wal_older_than_the_oldest_base_backup(archived, capsys):
    from console.pitr.layout import list_base_backups

    base = list_base_backups(archived.backup_dir)[0]
    before = sorted(p.name for p in archived.archive.iterdir())
    older = [name for name in before if name[:24] < base.metadata["start_wal_file"] and ".history" not in name]
    assert older, before
    capsys.readouterr()
    assert main(["wal", "prune", "--json", "--config", str(archived.config)]) == 0
    preview = json.loads(capsys.readouterr().out)
    assert sorted(item["name"] for item in preview["remove_wal"]) == sorted(older)
    assert preview["applied"] is False and sorted(p.name for p in archived.archive.iterdir()) == before
    from console.retention.apply import plan_retention

    plans = plan_retention(archived.settings(), offsite=False)  # the same WAL, as items of the retention plan
    assert plans.wal_files_to_remove * 2 == len(older) and not plans.base_removals
    assert main(["--read-only", "wal", "prune", "--yes", "--config", str(archived.config)]) == 2
    assert main(["wal", "prune", "--yes", "--config", str(archived.config)]) == 0
    after = sorted(p.name for p in archived.archive.iterdir())
    assert after == sorted(set(before) - set(older))
    capsys.readouterr()
    assert main(["wal", "status", "--json", "--config", str(archived.config)]) == 0
    assert json.loads(capsys.readouterr().out)["pitr"]["continuity"]["ok"] is True


async def test_pitr_screen_checks_a_target_then_restores_it_in_a_worker(archived):
    """Pilot: the window loads, a refused target says why, an accepted one restores and reports."""
    from screens.app import BackupConsoleApp
    from screens.pitr import RestoreProgressed
    from tests.screens.conftest import fixed_prober, wait_until

    app = BackupConsoleApp(archived.settings(), prober=fixed_prober(), start_screen="pitr")
    app.pitr_program = str(archived.launcher)
    to = archived.work / "from-the-screen"
    seen: list = []
    moment = _moment_between(random.Random(SEED), archived.commits[4][2], archived.commits[5][1])
    try:
        async with app.run_test(size=(80, 24), message_hook=seen.append) as pilot:
            def text(selector: str) -> str:
                return str(app.screen.query_one(selector).render())

            await wait_until(pilot, lambda: text("#pitr-summary").startswith("recoverable"))
            assert "B base backup" in text("#pitr-timeline") and "R restore point after-row-4" in text("#pitr-timeline")
            app.screen.query_one("#pitr-to").value = str(to)
            early = (archived.base_stop - timedelta(hours=1)).isoformat()
            await pilot.click("#pitr-target")
            await pilot.press(*early, "enter")
            await wait_until(pilot, lambda: text("#pitr-preflight").startswith("REFUSED"))
            assert "before the end of the oldest base backup" in text("#pitr-preflight")
            await pilot.press("ctrl+r")  # unavailable without a checked target
            await pilot.pause(0.2)
            assert not to.exists()
            app.screen.query_one("#pitr-target").value = moment.isoformat()
            await pilot.press("enter")
            await wait_until(pilot, lambda: text("#pitr-preflight").startswith("PASS"))
            await pilot.press("ctrl+r")
            await wait_until(pilot, lambda: text("#pitr-result").startswith(("DONE", "FAILED")), timeout=120)
            result = text("#pitr-result")
            assert result.startswith("DONE"), result
            port = int(result.split("running on port ")[1].split(":")[0])
        assert _rows(port) == [1, 2, 3, 4, 5]
        phases = {m.event.phase for m in seen if isinstance(m, RestoreProgressed)}
        assert {"extract", "replay"} <= phases
    finally:
        stop_restored(to)
        shutil.rmtree(to, ignore_errors=True)


def test_zz_timeline_switch_is_followed(archived, capsys):
    """Promote a restored copy that archives into the same archive, write more, restore along timeline 2."""
    from console.pitr.window import pitr_status
    from tests.servers import _as_postgres_user, require_binary

    before_row_4 = _moment_between(random.Random(SEED), archived.commits[2][2], archived.commits[3][1])
    to = archived.work / "timeline-2"
    code, _ = _restore(archived, "--target-time", before_row_4.isoformat(), to=to)
    document = json.loads(capsys.readouterr().out)
    assert code == 0
    port = document["result"]["port"]
    command = f"{archived.launcher} wal push --archive-dir {archived.archive} %p %f"
    with open(to / "postgresql.auto.conf", "a") as handle:
        handle.write(f"archive_mode = 'on'\narchive_command = '{command}'\n")
    pg_ctl = require_binary("pg_ctl")
    import subprocess

    subprocess.run(_as_postgres_user([pg_ctl, "-D", str(to), "-w", "-l", str(to / "restart.log"), "restart"]),
                   check=True, capture_output=True, cwd="/")
    # the copy promoted with archive_mode off, so its new history file was never queued for the
    # archive: pushing it is the step docs/pitr.md asks of whoever turns the copy into a primary
    subprocess.run(_as_postgres_user([str(archived.launcher), "wal", "push", "--archive-dir", str(archived.archive),
                                      str(to / "pg_wal" / "00000002.history")]), check=True, capture_output=True,
                   cwd="/")
    copy = PgCluster.__new__(PgCluster)
    copy.host, copy.port, copy.user = "127.0.0.1", port, "postgres"
    try:
        with copy.connect() as conn:
            conn.execute("INSERT INTO marker VALUES (40, 'timeline 2')")
            after = conn.execute("SELECT clock_timestamp()").fetchone()[0]
            time.sleep(0.2)
            before_41 = conn.execute("SELECT clock_timestamp()").fetchone()[0]
            conn.execute("INSERT INTO marker VALUES (41, 'timeline 2')")
        time.sleep(0.3)
        ArchivedCluster(copy, archived.archive, archived.backup_dir, archived.config, archived.launcher,
                        archived.work).wait_archived()
    finally:
        stop_restored(to)
        shutil.rmtree(to, ignore_errors=True)
    status = pitr_status(archived.backup_dir, archived.archive)
    assert status.latest_timeline == 2
    current = status.current
    assert current is not None and [b.timeline for b in current.path] == [1, 2] and current.first_gap is None
    assert current.end is not None and current.end.end_time > before_41
    assert _restore_and_read(archived, capsys, "--target-time",
                             _moment_between(random.Random(SEED), after, before_41).isoformat()) == [1, 2, 3, 40]
    # the window's end is the last commit, which a time target cannot reach: nothing commits after it
    capsys.readouterr()
    assert _restore(archived, "--target-time", current.end.end_time.isoformat(), to=to)[0] == 2
    assert "not before the last archived commit" in capsys.readouterr().err and not to.exists()
    # timeline 1 stays reachable when asked for explicitly
    assert _restore_and_read(archived, capsys, "--target-time", archived.commits[5][2].isoformat(),
                             "--timeline", "1") == [1, 2, 3, 4, 5, 6]
