"""Troubleshooting screen layout at 80x24, with fixed diagnoses.

Real ones differ on every run (backend pids and ages, free space, Redis save times), so the
screen is given fixed diagnoses shaped like console.troubleshoot's; behaviour against real
services is in tests/console/test_troubleshoot.py and tests/screens/test_retention_screen.py.
"""

from __future__ import annotations


from console.troubleshoot import Diagnosis
from screens.app import BackupConsoleApp
from tests.screens.conftest import fixed_prober, frozen_clock, redraw_tables

TRANSACTIONS = Diagnosis(
    "Long-running transactions", "warning", "2 transaction(s) open >= 300 s; oldest 1843 s (pid 4242, reporting)",
    ["pg_stat_activity on 127.0.0.1:5432: transactions open >= 300 s (xact_start), excluding this session"],
    [{"pid": 4242, "user": "app", "database": "app", "application": "reporting", "state": "idle in transaction",
      "age_seconds": 1843.2, "query": "SELECT count(*) FROM sales.orders WHERE created_at > now() - interval '1 day'",
      "waiting_on": "Client"},
     {"pid": 4310, "user": "migrator", "database": "app", "application": "alembic", "state": "active",
      "age_seconds": 412.7, "query": "ALTER TABLE sales.orders ADD COLUMN region text", "waiting_on": "Lock"}],
    ["a long transaction holds back VACUUM and makes pg_dump wait on locks; ask its owner first",
     "if it must go: `backup-console troubleshoot terminate PID --yes` (pg_terminate_backend)"],
)

DISK = Diagnosis(
    "Backup directory usage", "ok", "41.0 GB free (62 %) of 66.1 GB; backups use 3.1 GB",
    ["walked 14 file(s) under /backups",
     "per kind: postgres 2.6 GB, redis 412.3 MB, rabbitmq 18.4 kB, config 1.2 MB, certs 48.0 kB",
     "disk of /backups: 25.1 GB used, 41.0 GB free"],
    [{"path": "postgres/backup_app_20261125_020000.dump", "size_bytes": 1_310_720_000, "large": True,
      "recognised": True},
     {"path": "postgres/backup_app_20261124_020000.dump", "size_bytes": 1_290_000_000, "large": True,
      "recognised": True},
     {"path": "redis/snapshot_20261125_020000.rdb.gz", "size_bytes": 138_912_034, "large": False, "recognised": True},
     {"path": "old-dumps/app.sql", "size_bytes": 52_428_800, "large": False, "recognised": False}],
    ["1 file(s) are not backups the console knows; retention never touches them: check them by hand"],
)

REDIS = Diagnosis(
    "Redis persistence", "problem", "last BGSAVE FAILED; AOF on, last AOF write ok",
    ["INFO persistence from 127.0.0.1:6379", "CONFIG GET dir/dbfilename/appendonly/save/logfile",
     "last 200 lines of /var/log/redis/redis-server.log: 1 save error(s)"],
    [{"field": "rdb_last_bgsave_status", "value": "err"}, {"field": "rdb_last_bgsave_time_sec", "value": 3},
     {"field": "rdb_changes_since_last_save", "value": 18_422}, {"field": "aof_enabled", "value": 1},
     {"field": "aof_last_write_status", "value": "ok"}, {"field": "config dir", "value": "/var/lib/redis"},
     {"field": "log", "value": "1234:M 25 Nov 2026 02:00:01.123 # Background saving error"}],
    ["the last BGSAVE failed, so RDB snapshots are stale: check free space and permissions of /var/lib/redis "
     "and the log (fork: Cannot allocate memory -> vm.overcommit_memory=1)",
     "AOF is on: restore from the newest aof_<ts> backup instead of the snapshot "
     "(the manual: `redis-cli --pipe < appendonly.aof`)"],
)

FIXED_DIAGNOSES = {"transactions": TRANSACTIONS, "disk": DISK, "redis": REDIS}


def _fixed(key: str):  # noqa: ANN202
    return lambda settings, *args: FIXED_DIAGNOSES[key]


async def _settle(pilot) -> None:  # noqa: ANN001
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause(0.3)  # the table recomputes its column widths from its new rows
    await redraw_tables(pilot)


def test_troubleshoot_80x24(snap_compare, make_settings):
    app = BackupConsoleApp(make_settings(), clock=frozen_clock, prober=fixed_prober(), start_screen="troubleshoot",
                           start_kwargs={"runners": {key: _fixed(key) for key in FIXED_DIAGNOSES}})
    assert snap_compare(app, terminal_size=(80, 24), run_before=_settle)


def test_troubleshoot_80x24_no_color(snap_compare, make_settings, no_color):
    test_troubleshoot_80x24(snap_compare, make_settings)
