"""The X.509 inventory, its expiry states, the certs.* checks and the Certificates probe, on
certificates generated here with ``cryptography``."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import hashes

from console.kinds.certs.checks import CHECKS
from console.kinds.certs.inventory import build_inventory, discover, expiry_state
from console.preflight import CheckContext, run_check
from console.probes import ServiceState, probe
from console.status import Status
from tests.certs_fixtures import NOW, P12_PASSWORD, build_cert_tree, ec_key, key_pem, make_cert, pem


@pytest.fixture
def tree(tmp_path):
    return build_cert_tree(tmp_path / "certs")


@pytest.fixture
def cert_settings(make_settings, tree):
    def build(**extra):
        values = {"certs.cert_dir": str(tree.root), "certs.p12_password": P12_PASSWORD}
        values.update({key.replace("__", "."): value for key, value in extra.items()})
        return make_settings(values)
    return build


def by_name(inventory):
    return {cert.common_name: cert for cert in inventory.certificates}


def test_inventory_fields_are_exact(tree, cert_settings):
    now = NOW + timedelta(hours=1)
    inventory = build_inventory(tree.root, cert_settings(), now=now)
    api = by_name(inventory)["api.example.com"]
    cert = tree.certs["api"]
    assert api.as_json() == {
        "file": "live/api.crt",
        "subject": "O=Example\\, Inc.,CN=api.example.com",
        "issuer": "O=Example\\, Inc.,CN=api.example.com",
        "valid_from": (NOW - timedelta(days=30)).isoformat(),
        "valid_to": (NOW + timedelta(days=41)).isoformat(),
        "serial": "1234abcd",
        "sans": ["DNS:api.example.com", "DNS:www.example.com", "IP:10.0.0.5"],
        "fingerprint_sha256": cert.fingerprint(hashes.SHA256()).hex(),
        "key_type": "RSA",
        "key_size": 2048,
        "days_left": 40,
        "state": "ok",
        "index": 0,
        "private_key_file": "live/api.key",
        "common_name": "api.example.com",
        "key_matched": True,
    }


def test_states_bundles_der_p12_and_keys(tree, cert_settings):
    inventory = build_inventory(tree.root, cert_settings())
    certs = by_name(inventory)
    assert set(certs) == {"api.example.com", "soon.example.com", "old.example.com", "Example Root CA",
                          "Example Intermediate", "der.example.com", "p12.example.com"}
    assert certs["soon.example.com"].state == "critical" and certs["soon.example.com"].days_left == 5
    assert certs["soon.example.com"].key_type == "EC secp256r1" and certs["soon.example.com"].key_size == 256
    assert certs["soon.example.com"].private_key_file == "live/soon.pem"  # key in the same file
    assert certs["old.example.com"].state == "expired" and certs["old.example.com"].days_left == -3
    assert certs["Example Intermediate"].state == "warn"
    assert certs["Example Intermediate"].issuer == "CN=Example Root CA"
    assert (certs["Example Intermediate"].file, certs["Example Intermediate"].index) == ("chain.pem", 0)
    assert (certs["Example Root CA"].file, certs["Example Root CA"].index) == ("chain.pem", 1)
    assert certs["der.example.com"].file == "der.der" and certs["der.example.com"].private_key_file is None
    assert certs["p12.example.com"].file == "bundle.p12"
    assert certs["p12.example.com"].private_key_file == "bundle.p12"
    keys = {key.file: key for key in inventory.keys}
    assert keys["stray.key"].matches == []  # a key that matches no certificate
    assert keys["live/api.key"].matches == [certs["api.example.com"].fingerprint_sha256]
    assert [(p.file, "not a certificate" in p.message) for p in inventory.problems] == [("notes.pem", True)]
    assert "README.txt" not in inventory.files
    summary = inventory.summary()
    assert (summary["count"], summary["expired"], summary["expiring_critical"], summary["expiring_warn"]) == (7, 1, 1, 1)
    assert inventory.worst_state == "expired"


def test_p12_with_wrong_password_is_a_problem_not_fatal(tree, cert_settings):
    inventory = build_inventory(tree.root, cert_settings(**{"certs.p12_password": "nope"}))
    assert "p12.example.com" not in by_name(inventory)
    assert any(p.file == "bundle.p12" and "PKCS#12" in p.message for p in inventory.problems)
    assert len(inventory.certificates) == 6


def test_discovery_skips_backup_dir_and_survives_symlink_loops(tree, make_settings):
    (tree.root / "loop").mkdir()
    os.symlink("..", tree.root / "loop" / "back")
    os.symlink(tree.root, tree.root / "self")
    backups = tree.root / "backups"
    (backups / "certs").mkdir(parents=True)
    (backups / "certs" / "copied.crt").write_bytes(pem(tree.certs["api"]))
    settings = make_settings(**{"backup_dir": str(backups), "certs.cert_dir": str(tree.root)})
    inventory = build_inventory(tree.root, settings)
    assert not [f for f in inventory.files if f.startswith("backups/")]
    assert len(inventory.files) == len(set(os.path.realpath(tree.root / f) for f in inventory.files))
    files, truncated = discover(tree.root)
    assert not truncated and any("copied.crt" in str(f) for f in files)


def test_expiry_thresholds_follow_settings():
    assert expiry_state(31, 30, 7) == "ok"
    assert expiry_state(30, 30, 7) == "warn"
    assert expiry_state(7.5, 30, 7) == "warn"
    assert expiry_state(7, 30, 7) == "critical"
    assert expiry_state(0.1, 30, 7) == "critical"
    assert expiry_state(0, 30, 7) == "expired"
    assert expiry_state(-10, 30, 7) == "expired"


def test_configured_thresholds_change_states(tree, cert_settings):
    certs = by_name(build_inventory(tree.root, cert_settings(**{"certs.warn_days": 60, "certs.critical_days": 3})))
    assert certs["soon.example.com"].state == "warn"
    assert certs["api.example.com"].state == "warn"


def test_expiry_check_warns_but_never_blocks(cert_settings):
    result = run_check(CHECKS["expiry"], CheckContext(cert_settings()))
    assert result.status is Status.WARN
    assert "old.example.com" in result.evidence and "expired" in result.evidence


def test_cert_dir_and_key_checks(cert_settings, tmp_path):
    assert run_check(CHECKS["cert_dir_readable"], CheckContext(cert_settings())).status is Status.OK
    missing = cert_settings(**{"certs.cert_dir": str(tmp_path / "nope")})
    assert run_check(CHECKS["cert_dir_readable"], CheckContext(missing)).status is Status.FAIL
    assert run_check(CHECKS["encryption_key"], CheckContext(cert_settings())).status is Status.FAIL
    keyed = cert_settings(**{"encryption.key": "a long enough key"})
    result = run_check(CHECKS["encryption_key"], CheckContext(keyed))
    assert result.status is Status.OK and "a long enough key" not in result.evidence


def test_probe_states_and_detail(tmp_path, make_settings, cert_settings):
    down = probe("certs", cert_settings())
    assert down.state is ServiceState.DOWN and down.kind == "x509"
    assert down.detail == "7 certificates, 1 expired (old.example.com expired 3 days ago)"
    assert {k: down.metrics[k] for k in ("count", "soonest_days", "expiring_warn", "expiring_critical", "expired")} == \
        {"count": 7, "soonest_days": -3, "expiring_warn": 1, "expiring_critical": 1, "expired": 1}

    fine = tmp_path / "fine"
    fine.mkdir()
    key = ec_key()
    (fine / "a.crt").write_bytes(pem(make_cert("api.example.com", key, days_valid=41.5)))
    (fine / "b.crt").write_bytes(pem(make_cert("web.example.com", key, days_valid=90)))
    (fine / "a.key").write_bytes(key_pem(key))
    up = probe("certs", make_settings(**{"certs.cert_dir": str(fine)}))
    assert up.state is ServiceState.UP
    assert up.detail == "2 certificates, next expiry in 41 days (api.example.com)"

    (fine / "c.crt").write_bytes(pem(make_cert("warn.example.com", key, days_valid=12.5)))
    degraded = probe("certs", make_settings(**{"certs.cert_dir": str(fine)}))
    assert degraded.state is ServiceState.DEGRADED and "12 days (warn.example.com)" in degraded.detail

    empty = tmp_path / "empty"
    empty.mkdir()
    assert probe("certs", make_settings(**{"certs.cert_dir": str(empty)})).state is ServiceState.UNCONFIGURED


def test_a_key_lists_each_certificate_once_however_many_copies_exist(tmp_path, make_settings):
    root = tmp_path / "copies"
    (root / "backup").mkdir(parents=True)
    key = ec_key()
    current = make_cert("copied.example.com", key, days_valid=60)
    renewed = make_cert("copied.example.com", key, days_valid=90)  # same key, another certificate
    (root / "a-current.crt").write_bytes(pem(current))
    (root / "b-renewed.crt").write_bytes(pem(renewed))
    (root / "backup" / "current.crt").write_bytes(pem(current))
    (root / "c-fullchain.pem").write_bytes(pem(current) + pem(renewed))
    (root / "copied.key").write_bytes(key_pem(key))

    inventory = build_inventory(root, make_settings({"certs.cert_dir": str(root)}))

    assert len(inventory.certificates) == 5  # every copy is still listed as a certificate
    (key_info,) = inventory.keys
    assert key_info.file == "copied.key"
    assert key_info.matches == [current.fingerprint(hashes.SHA256()).hex(), renewed.fingerprint(hashes.SHA256()).hex()]


def test_a_negative_serial_is_listed_without_a_warning_on_stderr(tmp_path, make_settings):
    import warnings

    from cryptography.hazmat.primitives import serialization

    der = make_cert("legacy.example.com", ec_key(), days_valid=90, serial=1).public_bytes(serialization.Encoding.DER)
    version = b"\xa0\x03\x02\x01\x02"  # [0] EXPLICIT INTEGER 2 (v3), then the serial INTEGER
    at = der.index(version) + len(version)
    assert der[at:at + 3] == b"\x02\x01\x01"
    negative = der[:at] + b"\x02\x01\xff" + der[at + 3:]  # serial -1, as some old CAs issued them
    (tmp_path / "legacy.der").write_bytes(negative)
    settings = make_settings(**{"certs.cert_dir": str(tmp_path)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inventory = build_inventory(tmp_path, settings)
    assert [cert.serial for cert in inventory.certificates] == ["-1"]
    assert [str(w.message) for w in caught] == []
