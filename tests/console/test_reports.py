"""Reports: the manual's text layout (golden file), a stable JSON schema (golden keys), files on disk,
listing newest first, and the verification the dashboard reads from them per set."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from console.verify import reports
from console.verify.model import CheckOutcome, SetVerification, VerifyReport
from console.verify.run import verify
from console.verify.state import reported_sets

GOLDEN = Path(__file__).parent / "golden"


def sample_report(name: str = "backup_verification_20261125_020000", started: str = "2026-11-25T02:00:00+00:00",
                  fail: bool = True) -> VerifyReport:
    pg = SetVerification(
        "postgres/app/20261125_010000", "postgres", "app", "2026-11-25T01:00:00+00:00", "failed" if fail else "passed",
        (CheckOutcome("metadata", "passed", "metadata OK (backup-console 0.1.0, 2 artifact(s))", "backup_app_20261125_010000.json"),
         CheckOutcome("sha256", "failed" if fail else "passed",
                      "SHA-256 mismatch: metadata 0123456789ab..., file ba9876543210..." if fail
                      else "SHA-256 matches the metadata (0123456789ab...)", "backup_app_20261125_010000.dump.zst"),
         CheckOutcome("pg_restore_list", "passed", "Custom dump readable (pg_restore --list: 29 TOC lines)",
                      "backup_app_20261125_010000.dump.zst"),
         CheckOutcome("age", "passed", "Age OK (< 26 hours: 1.0 h)", "backup_app_20261125_010000.dump.zst"),
         CheckOutcome("gzip", "passed", "File integrity OK (gzip stream complete, Size: 0MB, 79293 bytes inside)",
                      "backup_app_20261125_010000.sql.gz"),
         CheckOutcome("sql_complete", "passed", "SQL dump complete ('-- PostgreSQL database dump complete' at the end)",
                      "backup_app_20261125_010000.sql.gz")),
        ({"name": "backup_app_20261125_010000.dump.zst", "size_bytes": 10}, {"name": "backup_app_20261125_010000.sql.gz"},
         {"name": "backup_app_20261125_010000.json"}),
        "/b/postgres/backup_app_20261125_010000.json", True, None, 0.5)
    redis = SetVerification(
        "redis/20261124_020000", "redis", "", "2026-11-24T02:00:00+00:00", "warning",
        (CheckOutcome("rdb", "passed", "File integrity OK (gzip stream complete, RDB version 10, CRC64 ok, Size: 0MB)",
                      "snapshot_20261124_020000.rdb.gz"),
         CheckOutcome("age", "warning", "Age WARNING (> 26 hours: 27 h since the newest backup)",
                      "snapshot_20261124_020000.rdb.gz"),
         CheckOutcome("metadata", "warning", "metadata unreadable: snapshot_20261124_020000.json is not valid JSON; "
                      "(defect 8)", "snapshot_20261124_020000.json")),
        ({"name": "snapshot_20261124_020000.rdb.gz"}, {"name": "snapshot_20261124_020000.json"}),
        None, False, None, 0.25)
    certs = SetVerification(
        "certs/20261120_100000", "certs", "", "2026-11-20T10:00:00+00:00", "passed",
        (CheckOutcome("decrypt", "skipped", "Decryption skipped: no key (set BACKUP_ENCRYPTION_KEY or encryption.key_file)",
                      "certificates_20261120_100000.tar.gz.enc"),),
        ({"name": "certificates_20261120_100000.tar.gz.enc"},), None, True, None, 0.1)
    return VerifyReport(started, started.replace("02:00:00", "02:00:07"), 7.0, False,
                        ("postgres", "redis", "rabbitmq", "config", "certs"), (pg, redis, certs), name)


def test_text_report_matches_the_manual_layout() -> None:
    text = reports.render_text(sample_report())
    assert text == (GOLDEN / "backup_verification.report").read_text(encoding="utf-8")
    passing = reports.render_text(sample_report(fail=False))
    assert passing.rstrip().endswith("Status: ✓ ALL BACKUPS VERIFIED SUCCESSFULLY")


def test_json_schema_is_stable() -> None:
    document = sample_report().as_json()
    golden = json.loads((GOLDEN / "verify_report_keys.json").read_text())
    assert sorted(document) == golden["report"]
    assert sorted(document["summary"]) == golden["summary"]
    assert sorted(document["sets"][0]) == golden["set"]
    assert sorted(document["sets"][0]["checks"][0]) == golden["check"]
    assert document["schema"] == "backup-console/verify-report/1"
    again = VerifyReport.from_json(json.loads(json.dumps(document)))
    assert again.as_json() == document


def test_reports_are_written_listed_newest_first_and_loaded(make_settings: Any) -> None:
    settings = make_settings()
    older = sample_report("backup_verification_20261124_020000", "2026-11-24T02:00:00+00:00", fail=False)
    newer = sample_report()
    for report in (older, newer):
        text_path, json_path = reports.write_report(settings, report)
        assert text_path.parent == settings.backup_dir / "reports" and json_path.suffix == ".json"
    (settings.backup_dir / "reports" / "backup_verification_junk.json").write_text("{not json")
    listed = reports.list_reports(settings)
    assert [item.name for item in listed] == [newer.report_name, older.report_name]
    assert (listed[0].status, listed[0].failed, listed[0].warnings, listed[0].duration_seconds) == ("failed", 1, 2, 7.0)
    assert reports.load_report(settings).report_name == newer.report_name
    assert reports.load_report(settings, older.report_name + ".report").report_name == older.report_name
    from console.errors import UsageError

    with pytest.raises(UsageError, match="no verification report"):
        reports.load_report(settings, "backup_verification_19990101_000000")

    latest = reported_sets(settings)  # the newest report naming a set wins
    assert latest["postgres/app/20261125_010000"] == ("failed", newer.finished_at, newer.report_name)
    assert latest["redis/20261124_020000"] == ("warning", newer.finished_at, newer.report_name)
    assert not any(set_id.startswith("rabbitmq/") for set_id in latest)


def test_a_real_run_writes_both_files_in_the_layout(redis_server: Any, make_settings: Any) -> None:
    from tests.verify_fixtures import our_backup

    redis_server.client().set("a", "1")
    settings = make_settings(redis_server.overrides())
    our_backup(settings, "redis")
    report = verify(settings)
    text = (settings.backup_dir / "reports" / f"{report.report_name}.report").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert re.fullmatch(r"Generated: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", lines[0])
    assert [line for line in lines if line.startswith("===")] == [
        "=== PostgreSQL Backups ===", "=== Redis Backups ===", "=== RabbitMQ Backups ===", "=== Config Backups ===",
        "=== Certificate Backups ===", "=== SUMMARY ==="]
    assert any(line.startswith("Checking: snapshot_") for line in lines)
    assert all(re.match(r"  [✓✗⚠-] ", line) for line in lines if line.startswith("  "))
    assert lines[-1] == "Status: ✓ ALL BACKUPS VERIFIED SUCCESSFULLY"
    assert json.loads((settings.backup_dir / "reports" / f"{report.report_name}.json").read_text())["status"] == "passed"
