"""Certificates screen layout at 80x24 and 120x40, with time and certificates frozen."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from screens.app import BackupConsoleApp
from tests.certs_fixtures import ec_key, key_pem, make_cert, pem
from tests.screens.conftest import fixed_prober, redraw_tables

FROZEN = dt.datetime(2026, 11, 25, 3, 0, 0, tzinfo=dt.timezone.utc)


pytestmark = pytest.mark.usefixtures("utc")


def frozen() -> dt.datetime:
    return FROZEN


def _tree(root: Path) -> Path:
    (root / "live").mkdir(parents=True)
    for name, days in (("api.example.com", 41.5), ("old.example.com", -3.5), ("soon.example.com", 5.5),
                       ("mail.example.com", 20.5), ("www.example.com", 300.5)):
        key = ec_key()
        short = name.split(".")[0]
        (root / "live" / f"{short}.crt").write_bytes(pem(make_cert(name, key, days_valid=days, now=FROZEN)))
        if short != "mail":
            (root / "live" / f"{short}.key").write_bytes(key_pem(key))
    (root / "notes.pem").write_text("not a certificate\n")
    return root


async def _settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause(0.3)
    await redraw_tables(pilot)


def _app(make_settings, tmp_path):
    settings = make_settings(**{"certs.cert_dir": str(_tree(tmp_path / "certs"))})
    return BackupConsoleApp(settings, clock=frozen, prober=fixed_prober(), start_screen="certificates")


def test_certificates_80x24(snap_compare, make_settings, tmp_path):
    assert snap_compare(_app(make_settings, tmp_path), terminal_size=(80, 24), run_before=_settle)


def test_certificates_120x40(snap_compare, make_settings, tmp_path):
    assert snap_compare(_app(make_settings, tmp_path), terminal_size=(120, 40), run_before=_settle)


def test_certificates_80x24_no_color(snap_compare, make_settings, tmp_path, no_color):
    test_certificates_80x24(snap_compare, make_settings, tmp_path)
