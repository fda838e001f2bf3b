"""The Certificates screen with Pilot: rows in expiry order, states in words, problems listed,
reload with `r`, and the palette entry that opens it."""

from __future__ import annotations

import datetime as dt

from textual.widgets import DataTable

from screens.app import BackupConsoleApp
from screens.certificates import CertificatesScreen
from tests.certs_fixtures import P12_PASSWORD, build_cert_tree, ec_key, make_cert, pem
from tests.screens.conftest import fixed_prober, wait_until, widget_text


def real_now() -> dt.datetime:
    return dt.datetime.now().astimezone()


def loaded(app) -> bool:
    return isinstance(app.screen, CertificatesScreen) and app.screen.inventory is not None


def summary(app) -> str:
    return str(app.screen.query_one("#certs-summary").render())


async def test_rows_states_and_problems(tmp_path, make_settings) -> None:
    tree = build_cert_tree(tmp_path / "certs")
    settings = make_settings(**{"certs.cert_dir": str(tree.root), "certs.p12_password": P12_PASSWORD})
    app = BackupConsoleApp(settings, clock=real_now, prober=fixed_prober(), start_screen="certificates")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        table = app.screen.query_one(DataTable)
        rows = [table.get_row_at(index) for index in range(table.row_count)]
        assert [row[0] for row in rows] == ["EXPIRED", "CRITICAL", "WARN", "OK", "OK", "OK", "OK", "PROBLEM"]
        assert rows[0][3] == "old.example.com" and rows[1][3] == "soon.example.com" and rows[1][5] == "yes"
        assert rows[-1][4] == "notes.pem"
        assert summary(app).startswith("EXPIRED: 7 certificates, 1 expired, 1 critical, 1 warn")
        assert app.screen.query_one("#certs-summary").has_class("-down")

        (tree.root / "legacy" / "old.crt").unlink()
        (tree.root / "live" / "soon.pem").unlink()
        (tree.root / "notes.pem").unlink()
        app.screen.inventory = None
        await pilot.press("r")
        await wait_until(pilot, lambda: loaded(app))
        assert summary(app).startswith("WARN: 5 certificates")
        assert app.screen.query_one("#certs-summary").has_class("-warn")
        await pilot.press("escape")
        assert not isinstance(app.screen, CertificatesScreen)


async def test_all_fine_and_empty_directory(tmp_path, make_settings) -> None:
    good = tmp_path / "good"
    good.mkdir()
    (good / "a.crt").write_bytes(pem(make_cert("api.example.com", ec_key(), days_valid=90)))
    app = BackupConsoleApp(make_settings(**{"certs.cert_dir": str(good)}), clock=real_now, prober=fixed_prober(),
                           start_screen="certificates")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        assert summary(app).startswith("OK: 1 certificates") and app.screen.query_one("#certs-summary").has_class("-ok")
    empty = tmp_path / "empty"
    empty.mkdir()
    app = BackupConsoleApp(make_settings(**{"certs.cert_dir": str(empty)}), clock=real_now, prober=fixed_prober(),
                           start_screen="certificates")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        assert summary(app).startswith("no certificates under")


async def test_palette_opens_the_screen(tmp_path, make_settings) -> None:
    app = BackupConsoleApp(make_settings(**{"certs.cert_dir": str(tmp_path)}), clock=real_now, prober=fixed_prober())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.press(*"Certificates: inventory")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, CertificatesScreen))


async def test_without_cert_dir_the_screen_says_not_configured_and_reads_nothing(tmp_path, make_settings,
                                                                                 monkeypatch) -> None:
    build_cert_tree(tmp_path / "cwd")  # certificates in the working directory must not be listed
    monkeypatch.chdir(tmp_path / "cwd")
    app = BackupConsoleApp(make_settings(), clock=real_now, prober=fixed_prober(), start_screen="certificates")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: "NOT CONFIGURED" in summary(app))
        assert "CERT_DIR" in summary(app) and "certs.cert_dir" in summary(app)
        assert app.screen.query_one(DataTable).row_count == 0


async def test_the_highlighted_row_is_shown_whole_under_the_table(tmp_path, make_settings) -> None:
    """The table's fixed columns cut a long name, path or problem at 80 columns: the line under it says
    the highlighted row in full (a PROBLEM row's message is the advice)."""
    deep = tmp_path / "certs" / "services" / "payments-gateway" / "production"
    deep.mkdir(parents=True)
    (deep / "payments-gateway.internal.example.com.crt").write_bytes(
        pem(make_cert("payments-gateway.internal.example.com", ec_key(), days_valid=90)))
    (tmp_path / "certs" / "notes.pem").write_text("not a certificate\n")
    app = BackupConsoleApp(make_settings(**{"certs.cert_dir": str(tmp_path / "certs")}), clock=real_now,
                           prober=fixed_prober(), start_screen="certificates")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: loaded(app))
        table = app.screen.query_one(DataTable)
        problem = app.screen.inventory.problems[0]
        await pilot.press("down")
        await pilot.pause()
        detail = widget_text(app, "#certs-detail")
        assert f"{problem.file}: {problem.message}" in detail, detail
        await pilot.press("up")
        await pilot.pause()
        detail = widget_text(app, "#certs-detail")
        assert "payments-gateway.internal.example.com" in detail and \
            "services/payments-gateway/production/payments-gateway.internal.example.com.crt" in detail, detail
        assert table.cursor_row == 0
