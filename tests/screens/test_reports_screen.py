"""The report browser with Pilot, keyboard only: list newest first, open a report (failed sets
first, with reasons), open a set's detail, and `v` runs a real verification in a worker."""

from __future__ import annotations

import json
from typing import Any

from textual.widgets import DataTable, Static

from console.verify import reports
from console.verify.run import verify
from screens.app import BackupConsoleApp
from screens.report_view import ReportScreen
from screens.reports import ReportsScreen
from screens.set_detail import SetDetailScreen
from tests.console.test_reports import sample_report
from tests.screens.conftest import fixed_prober, frozen_clock, wait_until
from tests.verify_fixtures import our_backup


def text_of(app: Any, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def rows(app: Any, selector: str) -> int:
    return app.screen.query_one(selector, DataTable).row_count


async def test_browse_reports_open_one_and_a_set(make_settings: Any) -> None:
    settings = make_settings()
    reports.write_report(settings, sample_report("backup_verification_20261124_020000", "2026-11-24T02:00:00+00:00",
                                                 fail=False))
    reports.write_report(settings, sample_report())
    app = BackupConsoleApp(settings, prober=fixed_prober(), clock=frozen_clock, start_screen="reports")
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app.screen, ReportsScreen)
        await wait_until(pilot, lambda: rows(app, "#reports-table") == 2)
        table = app.screen.query_one("#reports-table", DataTable)
        assert table.get_row_at(0)[:2] == ["2026-11-25 02:00", "FAILED"]
        assert table.get_row_at(1)[1] == "PASSED"
        assert text_of(app, "#reports-status").startswith("LAST FAILED 2026-11-25 02:00")

        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ReportScreen) and rows(app, "#report-sets") == 3)
        sets = app.screen.query_one("#report-sets", DataTable)
        assert [sets.get_row_at(i)[0] for i in range(3)] == ["✗ FAIL", "⚠ WARN", "✓ PASS"]
        assert "SHA-256 mismatch" in sets.get_row_at(0)[4]
        checks = text_of(app, "#report-checks")
        assert checks.splitlines()[1].startswith("✗ FAIL backup_app_20261125_010000.dump.zst [sha256]")
        await pilot.press("down")
        await wait_until(pilot, lambda: "redis/20261124_020000" in text_of(app, "#report-checks"))
        await pilot.press("up")

        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, SetDetailScreen)
                         and "loading" not in text_of(app, "#set-metadata"))
        assert rows(app, "#set-files") == 3  # the set is gone from disk: the report's files are shown
        assert "no longer on disk" in text_of(app, "#set-metadata")
        await pilot.press("escape", "escape")
        assert isinstance(app.screen, ReportsScreen)


async def test_verify_now_runs_in_a_worker_and_lists_the_new_report(redis_server: Any, make_settings: Any) -> None:
    redis_server.client().set("a", "1")
    settings = make_settings(redis_server.overrides())
    backup_set = our_backup(settings, "redis")
    app = BackupConsoleApp(settings, prober=fixed_prober(), clock=frozen_clock, start_screen="reports")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: "NO REPORTS" in text_of(app, "#reports-status"))
        await pilot.press("v")
        await wait_until(pilot, lambda: rows(app, "#reports-table") == 1 and not app.screen.verifying, timeout=60)
        assert text_of(app, "#reports-status").startswith("LAST PASSED")
        await pilot.press("V")
        await wait_until(pilot, lambda: rows(app, "#reports-table") == 2 and not app.screen.verifying, timeout=60)
        assert reports.list_reports(settings)[0].deep
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ReportScreen) and rows(app, "#report-sets") == 1)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, SetDetailScreen)
                         and "loading" not in text_of(app, "#set-metadata"))
        files = app.screen.query_one("#set-files", DataTable)
        names = {files.get_row_at(i)[0] for i in range(files.row_count)}
        assert backup_set.file("rdb").path.name in names
        assert text_of(app, "#set-s3") == "S3: not uploaded"
        assert '"verification_status"' in text_of(app, "#set-metadata")


async def test_dashboard_opens_the_reports(make_settings: Any) -> None:
    app = BackupConsoleApp(make_settings(), prober=fixed_prober(), clock=frozen_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("v")
        await wait_until(pilot, lambda: isinstance(app.screen, ReportsScreen))


async def test_a_legacy_certs_set_shows_what_verify_read_of_its_inventory(make_settings: Any, backup_dir) -> None:
    """The manual's certificate inventory is a JSON array, not metadata of ours: the set's page says what
    verify made of it (certificates listed, a key copy set apart), not 'is not a JSON object'."""
    certs = backup_dir / "certs"
    certs.mkdir(parents=True)
    entries = [{"file": "/backups/certs/etc/ssl/api.pem", "subject": "CN = api.example.com", "issuer": "CN = CA",
                "valid_from": "Jan  1 00:00:00 2026 GMT", "valid_to": "Jan  1 00:00:00 2027 GMT"},
               {"file": "/backups/certs/etc/ssl/api-key.pem", "subject": "", "issuer": "", "valid_from": "",
                "valid_to": ""}]
    (certs / "cert_inventory_20261101_020000.json").write_text(json.dumps(entries))
    (certs / "certificates_20261101_020000.tar.gz.enc").write_bytes(b"Salted__" + b"\0" * 40)
    settings = make_settings()
    verify(settings, kind="certs")
    app = BackupConsoleApp(settings, prober=fixed_prober(), clock=frozen_clock, start_screen="reports")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: rows(app, "#reports-table") == 1)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ReportScreen) and rows(app, "#report-sets") == 1)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, SetDetailScreen)
                         and "loading" not in text_of(app, "#set-metadata"))
        metadata = text_of(app, "#set-metadata")
        assert "not a JSON object" not in metadata, metadata
        assert "inventory lists 1 certificate(s)" in metadata and "a key copy?" in metadata, metadata


async def test_a_reports_sets_are_worst_first_then_newest_first(make_settings: Any) -> None:
    settings = make_settings()
    reports.write_report(settings, sample_report(fail=False))  # postgres (25 Nov) and certs (20 Nov) both pass
    app = BackupConsoleApp(settings, prober=fixed_prober(), clock=frozen_clock, start_screen="reports")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: rows(app, "#reports-table") == 1)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ReportScreen) and rows(app, "#report-sets") == 3)
        sets = app.screen.query_one("#report-sets", DataTable)
        assert [str(sets.get_row_at(i)[1]) for i in range(3)] == [
            "redis/20261124_020000", "postgres/app/20261125_010000", "certs/20261120_100000"]
