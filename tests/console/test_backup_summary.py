"""The Backups panel's two passes say what ``monitor`` says: the catalog pass's findings with the probe
pass's merged in are the monitor's findings (those not "ok"), in the same order."""

from __future__ import annotations

import datetime as dt
import time

from console.backup_summary import PROBE_FINDINGS, catalog_pass, probe_findings, scan_backups
from console.catalog import scan
from console.monitor import catalog_findings, collect
from console.probes import ProbeResult, ServiceState
from console.runlog import RunRecord, record_run


def _sets(backup_dir):
    now = dt.datetime.now()
    for kind, name, hours in (("redis", "snapshot_{ts}.rdb.gz", 80), ("redis", "snapshot_{ts}.rdb.gz", 90),
                              ("postgres", "backup_app_{ts}.dump", 2), ("postgres", "backup_shop_{ts}.dump", 50),
                              ("rabbitmq", "definitions_{ts}.json.gz", 3)):
        path = backup_dir / kind / name.format(ts=(now - dt.timedelta(hours=hours)).strftime("%Y%m%d_%H%M%S"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    record_run(backup_dir, RunRecord("backup", "rabbitmq", "", "failed", time.time() - 60, time.time() - 50, "refused"))


PROBES = {"storage": ProbeResult("storage", "local", ServiceState.DEGRADED, "only 5 % free", 1.0,
                                 {"free_bytes": 5, "total_bytes": 100, "backups_bytes": 1}),
          "postgres": ProbeResult("postgres", "postgresql", ServiceState.UP, "up", 1.0,
                                  {"version": "15.2", "archive_mode": "off"})}


def test_the_two_passes_merged_are_the_monitors_findings(make_settings, backup_dir):
    _sets(backup_dir)
    settings = make_settings(**{"postgres.databases": ["app", "shop", "billing"]})
    now = time.time()
    monitored = [f for f in collect(settings, now=now, probes=PROBES, certificates=False).findings if f.severity != "ok"]
    passed = catalog_pass(settings, now)
    assert passed.with_probe_findings(probe_findings(settings, passed.catalog, PROBES, now)).findings == monitored
    assert scan_backups(settings, PROBES, now).findings == monitored
    assert {f.category for f in passed.summary.findings} <= {"freshness", "backup_failed", "verification"}
    assert {"freshness:redis", "freshness:postgres/shop", "freshness:postgres/billing", "backup_failed:rabbitmq"} \
        <= {f.id for f in passed.summary.findings}


def test_until_the_probes_have_run_their_findings_are_pending(make_settings, backup_dir):
    _sets(backup_dir)
    settings = make_settings()
    pending = scan_backups(settings, None)
    assert pending.pending == PROBE_FINDINGS
    assert any(f.id == "freshness:redis" and f.severity == "critical" for f in pending.findings)
    assert scan_backups(settings, PROBES).pending == ()


def test_freshness_takes_the_newest_set_of_each_target_as_latest_does(make_settings, backup_dir):
    _sets(backup_dir)
    settings = make_settings(**{"postgres.databases": ["app", "shop"]})
    catalog = scan(backup_dir)
    report = catalog_findings(settings, catalog, time.time())
    newest = {state.label: state.set_id for state in report.targets}
    assert newest["redis"] == catalog.latest("redis").set_id
    assert newest["postgres/shop"] == catalog.latest("postgres", "shop").set_id
    assert newest["postgres/app"] == catalog.latest("postgres", "app").set_id


def test_the_openssl_finding_reads_no_legacy_metadata_when_it_can_only_be_ok(make_settings, backup_dir, tmp_path,
                                                                             monkeypatch):
    import shutil

    import console.catalog as catalog

    if shutil.which("openssl") is None:
        import pytest

        pytest.skip("openssl not installed")
    for day in range(1, 4):
        (backup_dir / "certs").mkdir(parents=True, exist_ok=True)
        (backup_dir / "certs" / f"certificates_2026120{day}_020000.tar.gz.enc").write_bytes(b"x")
        (backup_dir / "certs" / f"cert_inventory_2026120{day}_020000.json").write_text('{"timestamp": "legacy"}')
    settings = make_settings(**{"alerts.scheduled_kinds": ["certs"]})
    parses = []
    parse = catalog.parse_metadata
    monkeypatch.setattr(catalog, "parse_metadata", lambda raw, name: parses.append(name) or parse(raw, name))
    catalog._OURS.clear()
    found = probe_findings(settings, scan(backup_dir), PROBES, time.time())
    assert parses == [] and not any(f.id == "tools:openssl" for f in found)
    monkeypatch.setenv("PATH", str(tmp_path))  # no openssl: then the finding is a warning, with its count
    (warning,) = [f for f in probe_findings(settings, scan(backup_dir), PROBES, time.time()) if f.id == "tools:openssl"]
    assert warning.severity == "warning" and warning.evidence.startswith("3 legacy encrypted set(s)")
    assert warning in collect(settings, probes=PROBES, certificates=False).findings
