"""Clock skew: a set dated in the future never masks stale backups, takes no retention slot,
and is a warning on that set."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from tests.faults.conftest import Console, count_fault, sets_of


def _restamp(backup_dir: Path, kind: str, stamp: str, copy: bool = False) -> str:
    """Rename (or copy) the kind's one set to ``stamp``; returns the old stamp."""
    files = sets_of(backup_dir, kind)
    old = next(part for part in files[0].name.replace(".", "_").split("_") if len(part) == 8 and part.isdigit())
    old_stamp = files[0].name[files[0].name.index(old):][:15]
    for path in files:
        target = path.with_name(path.name.replace(old_stamp, stamp))
        if copy:
            target.write_bytes(path.read_bytes())
        else:
            path.rename(target)
    return old_stamp


def test_a_future_set_does_not_mask_a_stale_one(estate_console: Console, backup_dir: Path) -> None:
    now = datetime.now()
    ten_days_ago = (now - timedelta(days=10)).strftime("%Y%m%d_%H%M%S")
    next_year = (now + timedelta(days=365)).strftime("%Y%m%d_%H%M%S")
    _restamp(backup_dir, "redis", ten_days_ago)
    _restamp(backup_dir, "redis", next_year, copy=True)
    _restamp(backup_dir, "redis", "99991231_235959", copy=True)
    count_fault()

    status = json.loads(estate_console.run("status", "--json").out)
    redis = next(item for item in status["last_backups"] if item["kind"] == "redis")
    assert ten_days_ago in redis["set_id"] and redis["age_seconds"] > 9 * 86400

    monitor = estate_console.run("monitor", "--json", "--no-alerts")
    assert "Traceback" not in monitor.err
    assert monitor.code == 1
    assert "redis" in monitor.out and ten_days_ago in monitor.out

    plan = json.loads(estate_console.run("retention", "plan", "--json", "--local-only").out)
    text = json.dumps(plan)
    assert "dated in the future" in text
    kept = [d for d in plan["local"]["keep"] if "redis" in json.dumps(d)]
    assert kept, plan
    for decision in kept:
        if next_year in json.dumps(decision) or "99991231" in json.dumps(decision):
            assert "min_keep" not in json.dumps(decision)

    verified = json.loads(estate_console.run("verify", "--json", "--kind", "redis").out)
    warnings = [o["message"] for entry in verified["sets"] for o in entry["checks"] if o["check"] == "date"]
    assert len(warnings) == 2 and all("in the future" in message for message in warnings)
