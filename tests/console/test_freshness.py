"""One freshness rule: verify's age check and monitor's freshness agree at the same stale_hours."""

from __future__ import annotations

from datetime import datetime, timedelta

from console.monitor import collect
from console.verify.run import verify_set
from tests.verify_fixtures import our_backup


def test_verify_and_monitor_agree_on_either_side_of_stale_hours(redis_server, make_settings) -> None:
    settings = make_settings(redis_server.overrides(), **{"alerts.stale_hours": 3, "alerts.scheduled_kinds": ["redis"]})
    backup_set = our_backup(settings, "redis")
    for hours, verify_status, monitor_severity in ((2, "passed", "ok"), (4, "warning", "critical")):
        now = datetime.now().astimezone() + timedelta(hours=hours)
        age = next(o for o in verify_set(settings, backup_set, now=now, record=False).checks if o.check == "age")
        freshness = next(f for f in collect(settings, now.timestamp()).findings if f.id == "freshness:redis")
        assert (age.status, freshness.severity) == (verify_status, monitor_severity), hours
        assert "3 hours" in age.message and "stale after 3 h" in freshness.evidence
