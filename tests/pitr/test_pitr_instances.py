"""Point-in-time recovery per instance: two private clusters, the default one and ``analytics``,
each archiving into its own WAL archive (analytics' by ``wal push --instance analytics``, which
finds BACKUP_DIR/postgres@analytics/wal from the configuration), each with its own base backups.

Restores of analytics to moments return exactly the rows committed before them, while the
default instance's archive and base backups stay as they were.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import random
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterator

import psycopg
import pytest

from console.cli import main
from tests.pitr.conftest import ArchivedCluster, postgres_owned_dir, stop_restored
from tests.servers import PgCluster

ROWS = 6


@dataclass
class TwoClusters:
    default: ArchivedCluster
    analytics: ArchivedCluster
    config: Path
    backup_dir: Path
    work: Path
    default_archive_before: dict[str, str] = field(default_factory=dict)
    commits: list[tuple[int, datetime, datetime]] = field(default_factory=list)
    base_stop: datetime | None = None


def _listing(directory: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(directory.iterdir())}


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = main([*argv, "--json"])
    out = capsys.readouterr()
    return code, (json.loads(out.out) if out.out.strip() else {"stderr": out.err})


@pytest.fixture(scope="module")
def two(wal_launcher: Path) -> Iterator[TwoClusters]:
    work = postgres_owned_dir("bc-pitr-two-")
    backup_dir = work / "backups"
    default_archive = postgres_owned_dir("bc-pitr-default-archive-")
    named_archive = backup_dir / "postgres@analytics" / "wal"  # the instance's default place, not configured
    named_archive.mkdir(parents=True)
    for path in (backup_dir, named_archive.parent, named_archive):
        os.chmod(path, 0o755)
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(path, entry.pw_uid, entry.pw_gid)
    config = work / "config.yaml"
    base_conf = {"wal_level": "replica", "archive_mode": "on", "max_wal_senders": "4"}
    default = PgCluster({**base_conf, "archive_command": f"'{wal_launcher} wal push --archive-dir {default_archive} "
                                                         "%p %f'"}).init().start()
    analytics = PgCluster({**base_conf, "archive_command": f"'{wal_launcher} wal push --instance analytics "
                                                           f"--config {config} %p %f'"}).init().start()
    config.write_text(f"backup_dir: {backup_dir}\ntimeout_seconds: 5\npostgres:\n  host: 127.0.0.1\n"
                      f"  port: {default.port}\n  user: postgres\n  wal_archive_dir: {default_archive}\n"
                      f"  instances:\n    default: {{}}\n    analytics:\n      port: {analytics.port}\n")
    os.chmod(config, 0o644)
    state = TwoClusters(ArchivedCluster(default, default_archive, backup_dir, config, wal_launcher, work),
                        ArchivedCluster(analytics, named_archive, backup_dir, config, wal_launcher, work),
                        config, backup_dir, work)
    try:
        with analytics.connect() as conn:
            conn.execute("CREATE TABLE marker (id int PRIMARY KEY)")
        state.analytics.wait_archived()
        state.default.wait_archived()
        assert main(["backup", "postgres/default", "--physical", "--config", str(config)]) == 0
        assert main(["backup", "postgres/analytics", "--physical", "--config", str(config)]) == 0
        with default.connect() as conn:
            conn.execute("CREATE TABLE other (id int)")  # WAL to switch away from: its .backup file is not last
        state.default.wait_archived()
        state.default_archive_before = _listing(default_archive)
        metadata = json.loads(next((backup_dir / "postgres@analytics" / "base").glob("*/backup.json")).read_text())
        state.base_stop = datetime.fromisoformat(metadata["stop_time"])
        time.sleep(1.0)
        with analytics.connect() as conn:
            for row in range(1, ROWS + 1):
                before = conn.execute("SELECT clock_timestamp()").fetchone()[0]
                conn.execute("INSERT INTO marker VALUES (%s)", (row,))
                after = conn.execute("SELECT clock_timestamp()").fetchone()[0]
                state.commits.append((row, before, after))
                if row == 3:
                    assert main(["wal", "mark", "after-row-3", "--instance", "analytics",
                                 "--config", str(config)]) == 0
                if row % 2 == 0:
                    state.analytics.wait_archived()
                time.sleep(0.25)
        state.analytics.wait_archived()
        yield state
    finally:
        default.destroy()
        analytics.destroy()
        shutil.rmtree(default_archive, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def _restore_rows(two: TwoClusters, capsys: pytest.CaptureFixture[str], *target: str) -> list[int]:
    to = two.work / f"restored-{time.monotonic_ns()}"
    code, document = _cli(capsys, "restore", "postgres", "--pitr", "--instance", "analytics", *target, "--to", str(to),
                          "--start", "--program", str(two.analytics.launcher), "--config", str(two.config),
                          "--wait", "120")
    try:
        assert code == 0, document
        assert document["plan"]["base_backup"].startswith("postgres/analytics/base/")
        assert document["result"]["reached"] is True
        with psycopg.connect(host="127.0.0.1", port=document["result"]["port"], user="postgres", dbname="postgres",
                             connect_timeout=5) as conn:
            return [row[0] for row in conn.execute("SELECT id FROM marker ORDER BY id").fetchall()]
    finally:
        stop_restored(to)
        shutil.rmtree(to, ignore_errors=True)


def test_each_instance_keeps_its_base_backups_and_wal_in_its_own_directory(two):
    default_bases = sorted((two.backup_dir / "postgres" / "base").glob("*/backup.json"))
    named_bases = sorted((two.backup_dir / "postgres@analytics" / "base").glob("*/backup.json"))
    assert len(default_bases) == 1 and len(named_bases) == 1
    named = json.loads(named_bases[0].read_text())
    default = json.loads(default_bases[0].read_text())
    assert named["set_id"] == f"postgres/analytics/base/{named_bases[0].parent.name}"
    assert default["set_id"] == f"postgres/base/{default_bases[0].parent.name}"
    assert named["port"] == two.analytics.cluster.port and default["port"] == two.default.cluster.port
    # both clusters are copies of one initdb: the same system identifier and WAL names, other contents
    assert named["system_identifier"] == default["system_identifier"]
    assert named["wal_archive_dir"] == str(two.analytics.archive)
    # analytics' WAL (pushed by `wal push --instance analytics`) went to postgres@analytics/wal only
    assert any(name.endswith(".zst") for name in _listing(two.analytics.archive))
    assert _listing(two.default.archive) == two.default_archive_before
    assert not (two.backup_dir / "postgres" / "wal").exists()


def test_restores_of_the_named_instance_return_exactly_the_rows_committed_before(two, capsys):
    rng = random.Random(16)
    gaps = [(two.base_stop + timedelta(milliseconds=300), two.commits[0][1])]
    gaps += [(two.commits[i][2], two.commits[i + 1][1]) for i in range(len(two.commits) - 1)]
    for index in sorted(rng.sample(range(len(gaps)), 3)):
        after, before = gaps[index]
        moment = after + (before - after) * (0.2 + 0.6 * rng.random())
        assert _restore_rows(two, capsys, "--target-time", moment.isoformat()) == list(range(1, index + 1))
    assert _restore_rows(two, capsys, "--target-name", "after-row-3") == [1, 2, 3]
    assert _listing(two.default.archive) == two.default_archive_before


def test_a_target_before_the_named_instance_window_is_refused_with_its_window(two, capsys):
    to = two.work / "refused"
    code, _ = _cli(capsys, "restore", "postgres", "--pitr", "--instance", "analytics", "--target-time",
                   (two.base_stop - timedelta(minutes=5)).isoformat(), "--to", str(to), "--config", str(two.config))
    assert code == 2 and not to.exists()


def test_wal_status_verify_and_prune_speak_for_the_chosen_instance(two, capsys):
    code, named = _cli(capsys, "wal", "status", "--instance", "analytics", "--config", str(two.config))
    assert code == 0, named
    assert named["archive_dir"] == str(two.analytics.archive)
    window = named["recovery_window"]
    assert window["start"] is not None and datetime.fromisoformat(window["end"]) >= two.commits[-1][1]
    assert [base["set_id"].split("/")[:3] for base in named["pitr"]["base_backups"]] == [["postgres", "analytics", "base"]]
    assert [point["name"] for point in named["pitr"]["restore_points"]] == ["after-row-3"]

    code, default = _cli(capsys, "wal", "status", "--config", str(two.config))
    assert code == 0, default
    assert default["archive_dir"] == str(two.default.archive)
    assert [base["set_id"].split("/")[:2] for base in default["pitr"]["base_backups"]] == [["postgres", "base"]]
    assert default["pitr"]["restore_points"] == []

    code, verified = _cli(capsys, "verify", "--physical", "--kind", "postgres/analytics", "--config", str(two.config))
    assert code == 0, verified
    assert [report["set_id"].split("/")[1] for report in verified["base_backups"]] == ["analytics"]

    code, plan = _cli(capsys, "wal", "prune", "--instance", "analytics", "--config", str(two.config))
    assert code == 0, plan
    assert [item["set_id"].split("/")[1] for item in plan["keep_base_backups"]] == ["analytics"]

    code, _ = _cli(capsys, "wal", "status", "--instance", "nope", "--config", str(two.config))
    assert code == 2

    segment = sorted(path.name.removesuffix(".zst") for path in two.analytics.archive.glob("0*.zst"))[0]
    fetched = two.work / "fetched-segment"
    assert main(["wal", "get", "--instance", "analytics", "--config", str(two.config), segment, str(fetched)]) == 0
    assert fetched.stat().st_size == 16 * 1024 * 1024
    fetched.unlink()

    code, enable = _cli(capsys, "wal", "enable", "--instance", "analytics", "--program", "/opt/bc/backup-console",
                        "--config", str(two.config))
    assert code == 0 and not enable["applied"]
    command = next(statement for statement in enable["statements"] if "archive_command" in statement)
    assert f"/opt/bc/backup-console wal push --archive-dir {two.analytics.archive} %p %f" in command


def test_status_and_the_prometheus_file_carry_each_instance_window(two, capsys):
    from console.config import load_settings
    from console.monitor import collect
    from console.probes import probe_all
    from console.prometheus import render

    settings = load_settings(str(two.config), env={}, overrides={})
    probes = {result.label: result for result in probe_all(settings, ["postgres", "storage"])}
    windows = {label: result.metrics.get("recovery_window") for label, result in probes.items()
               if result.name == "postgres"}
    assert set(windows) == {"postgres", "postgres/analytics"}
    assert windows["postgres/analytics"]["restore_points"][0]["name"] == "after-row-3"
    assert windows["postgres"]["restore_points"] == []
    text = render(collect(settings, probes=probes, certificates=False))
    for instance in ("default", "analytics"):
        assert f'backup_console_postgres_recovery_window_start_timestamp_seconds{{instance="{instance}"}} ' in text

    code, status = _cli(capsys, "status", "--config", str(two.config))
    assert set(status["recovery_windows"]) == {"default", "analytics"}
    assert status["recovery_windows"]["analytics"]["restore_points"][0]["name"] == "after-row-3"
    assert status["recovery_window"] == status["recovery_windows"]["default"]


def test_wal_push_to_s3_for_a_named_instance_uses_its_own_keys(two, tmp_path, s3_bucket):
    import boto3

    segment = tmp_path / "000000010000000000000009"
    segment.write_bytes(os.urandom(1 << 20) + bytes(15 << 20))
    config = tmp_path / "config.yaml"
    config.write_text(two.config.read_text().replace("timeout_seconds: 5\n", (
        f"timeout_seconds: 5\ns3:\n  bucket: {s3_bucket['s3.bucket']}\n  endpoint_url: {s3_bucket['s3.endpoint_url']}\n"
        "  region: us-east-1\n  prefix: prod\n  storage_class: STANDARD\n")))
    archive = tmp_path / "archive"
    archive.mkdir()
    assert main(["wal", "push", "--instance", "analytics", "--archive-dir", str(archive), "--s3", "--config",
                 str(config), str(segment)]) == 0
    client = boto3.client("s3", endpoint_url=s3_bucket["s3.endpoint_url"], region_name="us-east-1")
    listed = client.list_objects_v2(Bucket=s3_bucket["s3.bucket"], Prefix="prod/")["Contents"]
    assert sorted(item["Key"] for item in listed) == [f"prod/postgres@analytics/wal/{segment.name}.sha256",
                                                      f"prod/postgres@analytics/wal/{segment.name}.zst"]
    body = client.get_object(Bucket=s3_bucket["s3.bucket"], Key=f"prod/postgres@analytics/wal/{segment.name}.zst")
    assert body["Body"].read() == (archive / f"{segment.name}.zst").read_bytes()


async def test_pitr_screen_shows_and_restores_the_chosen_instance(two):
    """Pilot: the PITR screen opened for analytics reads its window, plans from its base backup and
    restores its rows."""
    from console.config import load_settings
    from screens.app import BackupConsoleApp
    from tests.screens.conftest import fixed_prober, wait_until

    app = BackupConsoleApp(load_settings(str(two.config), env={}, overrides={}), prober=fixed_prober())
    app.pitr_program = str(two.analytics.launcher)
    to = two.work / "from-the-screen"
    after, before = two.commits[3][2], two.commits[4][1]
    moment = after + (before - after) / 2
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            def text(selector: str) -> str:
                return str(app.screen.query_one(selector).render())

            app.open_screen("pitr", instance="analytics")
            await wait_until(pilot, lambda: bool(app.screen.query("#pitr-summary")))
            assert app.screen.sub_title.endswith("- analytics")
            await wait_until(pilot, lambda: text("#pitr-summary").startswith("recoverable"))
            assert "R restore point after-row-3" in text("#pitr-timeline")
            app.screen.query_one("#pitr-to").value = str(to)
            app.screen.query_one("#pitr-target").value = moment.isoformat()
            app.screen.query_one("#pitr-target").focus()
            await pilot.press("enter")
            await wait_until(pilot, lambda: text("#pitr-preflight").startswith("PASS"))
            assert "base backup postgres/analytics/base/" in text("#pitr-preflight")
            await pilot.press("ctrl+r")
            await wait_until(pilot, lambda: text("#pitr-result").startswith(("DONE", "FAILED")), timeout=120)
            result = text("#pitr-result")
            assert result.startswith("DONE"), result
            port = int(result.split("running on port ")[1].split(":")[0])
        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", connect_timeout=5) as conn:
            assert [row[0] for row in conn.execute("SELECT id FROM marker ORDER BY id").fetchall()] == [1, 2, 3, 4]
    finally:
        stop_restored(to)
        shutil.rmtree(to, ignore_errors=True)
