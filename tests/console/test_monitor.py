"""Monitoring against real sets on disk, the real PostgreSQL and the real tools; the Prometheus file
is read back with prometheus_client's own parser."""

from __future__ import annotations

import json
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from console.cli import main
from console.layout import new_stamp
from console.monitor import collect, evaluate
from console.prometheus import render
from console.runlog import RunRecord, record_run
from tests.retention_fixtures import make_set


def stamp_hours_ago(hours: float) -> str:
    from datetime import datetime, timedelta

    return new_stamp(datetime.now() - timedelta(hours=hours))


@pytest.fixture
def settings_for(make_settings):
    def build(*maps, **values):
        values.setdefault("alerts.scheduled_kinds", ["redis", "config"])
        return make_settings(*maps, **values)
    return build


def by_id(findings):
    return {finding.id: finding for finding in findings}


def test_fresh_and_stale_backups(backup_dir, settings_for):
    make_set(backup_dir, "redis", stamp_hours_ago(30), status="passed")
    make_set(backup_dir, "redis", stamp_hours_ago(2), status="passed")
    make_set(backup_dir, "config", stamp_hours_ago(27), status="passed")
    found = by_id(evaluate(settings_for()))
    assert found["freshness:redis"].severity == "ok"
    assert found["freshness:config"].severity == "critical"
    assert "stale" in found["freshness:config"].message
    assert "stale after 26 h" in found["freshness:config"].evidence


def test_missing_kind_failed_run_and_failed_verification_alert(backup_dir, settings_for):
    make_set(backup_dir, "redis", stamp_hours_ago(3), status="failed")
    now = time.time()
    record_run(backup_dir, RunRecord("backup", "redis", "", "failed", now - 5, now - 1, "BGSAVE failed: MISCONF"))
    report = collect(settings_for())
    found = by_id(report.findings)
    assert found["freshness:config"].message == "no config backup found"
    assert found["verification:redis"].severity == "critical"
    assert "BGSAVE failed" in found["backup_failed:redis"].message
    assert report.findings[0].severity == "critical"  # worst first
    assert {f.id for f in report.alerting} >= {"freshness:config", "verification:redis", "backup_failed:redis"}


def test_pg_dump_and_archiver_against_the_server(pg_cluster, backup_dir, settings_for):
    make_set(backup_dir, "postgres", stamp_hours_ago(1), name="postgres", status="passed")
    report = collect(settings_for(pg_cluster.overrides(), **{"alerts.scheduled_kinds": ["postgres"]}))
    found = by_id(report.findings)
    assert found["tools:pg_dump"].severity == "ok", found["tools:pg_dump"]
    assert "server 15" in found["tools:pg_dump"].evidence
    assert found["wal_archiver:postgres"].severity == "warning"  # the private cluster does not archive
    assert found["freshness:postgres/postgres"].severity == "ok"
    assert report.wal["archive_mode"] == "off"


def test_archiver_failure_is_critical(own_pg_cluster, backup_dir, settings_for):
    with own_pg_cluster.connect() as conn:
        conn.execute("ALTER SYSTEM SET archive_mode = on")
        conn.execute("ALTER SYSTEM SET archive_command = 'false'")
    own_pg_cluster.restart()
    with own_pg_cluster.connect() as conn:
        conn.execute("CREATE TABLE t AS SELECT generate_series(1, 1000) AS n")
        conn.execute("SELECT pg_switch_wal()")
    settings = settings_for(own_pg_cluster.overrides(), **{"alerts.scheduled_kinds": ["postgres"]})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        finding = by_id(evaluate(settings))["wal_archiver:postgres"]
        if finding.severity == "critical":
            break
        time.sleep(0.5)
    assert finding.severity == "critical", finding
    assert "failing" in finding.message


def test_prometheus_textfile_parses(backup_dir, settings_for, tmp_path, monkeypatch, capsys):
    make_set(backup_dir, "redis", stamp_hours_ago(2), status="passed", size=4096)
    metadata = next((backup_dir / "redis").glob("snapshot_*.json"))
    document = json.loads(metadata.read_text())
    metadata.write_text(json.dumps({**document, "duration_seconds": 12.5}))
    monkeypatch.setenv("BACKUP_DIR", str(backup_dir))
    config = tmp_path / "bc.yaml"
    config.write_text("alerts:\n  scheduled_kinds: [redis]\n")
    target = tmp_path / "textfile" / "backup_console.prom"
    assert main(["--config", str(config), "monitor", "--prometheus", str(target), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["alerting"] == 0
    families = {family.name: family for family in text_string_to_metric_families(target.read_text())}
    last = families["backup_console_last_success_timestamp_seconds"].samples[0]
    assert last.labels == {"kind": "redis", "instance": "default", "name": ""} and abs(last.value - time.time()) < 3 * 3600
    assert families["backup_console_last_size_bytes"].samples[0].value == 4096 * 2 + 1 + metadata.stat().st_size
    assert families["backup_console_last_duration_seconds"].samples[0].value == 12.5
    statuses = {s.labels["status"]: s.value for s in families["backup_console_verification_status"].samples}
    assert statuses["passed"] == 1 and statuses["failed"] == 0
    assert families["backup_console_free_bytes"].samples[0].value > 0
    assert families["backup_console_alerting"].samples[0].value == 0
    assert not list(target.parent.glob(".*.tmp"))  # written atomically, nothing left over


def test_label_values_are_escaped(backup_dir, settings_for):
    report = collect(settings_for(**{"alerts.scheduled_kinds": ["postgres"], "postgres.database": 'we"ird\\db',
                                     "postgres.port": 1}))
    families = {f.name: f for f in text_string_to_metric_families(render(report))}
    assert families["backup_console_alerting"].samples[0].value == 1
    assert {s.labels["name"] for s in families["backup_console_verification_status"].samples} == {'we"ird\\db'}


def test_monitor_exit_code_follows_critical_findings(backup_dir, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("BACKUP_DIR", str(backup_dir))
    config = tmp_path / "bc.yaml"
    config.write_text("alerts:\n  scheduled_kinds: [rabbitmq]\n")
    assert main(["--config", str(config), "monitor"]) == 1
    assert "CRIT" in capsys.readouterr().out


def _write_cert(path, days_valid):
    from datetime import datetime, timedelta, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, path.stem)])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=days_valid)).sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def test_certificate_expiry(backup_dir, settings_for, tmp_path):
    certs = tmp_path / "tls"
    certs.mkdir()
    _write_cert(certs / "api.crt", 3)
    _write_cert(certs / "web.crt", 20)
    _write_cert(certs / "db.crt", 300)
    make_set(backup_dir, "certs", stamp_hours_ago(1), status="passed")
    report = collect(settings_for(**{"alerts.scheduled_kinds": ["certs"], "certs.cert_dir": str(certs)}))
    found = by_id(report.findings)
    assert found["certificates:api.crt"].severity == "critical" and "api" in found["certificates:api.crt"].message
    assert found["certificates:web.crt"].severity == "warning"
    assert "certificates:db.crt" not in found
    families = {f.name: f for f in text_string_to_metric_families(render(report))}
    days = {s.labels["file"]: s.value for s in families["backup_console_certificate_days_left"].samples}
    assert days["db.crt"] >= 299 and days["api.crt"] <= 3


def test_without_cert_dir_monitor_says_so_and_walks_nothing(backup_dir, settings_for, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # cron's working directory, with an expired certificate lying around
    _write_cert(tmp_path / "soon.crt", 2)  # would be critical if the directory were walked
    report = collect(settings_for(**{"alerts.scheduled_kinds": ["certs"]}))
    found = by_id(report.findings)
    assert found["certificates:dir"].severity == "warning" and "CERT_DIR" in found["certificates:dir"].message
    assert not [f for f in report.findings if f.id.startswith("certificates:") and f.id != "certificates:dir"]
    assert report.certificates == []
