"""Certificate backups end to end: an encrypted archive with no plaintext key anywhere, the
inventory as metadata, restores (ours and the manual's openssl archive), and damage detection."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from console import crypto
from console.catalog import read_metadata, scan
from console.errors import ConfirmationRequired, CryptoError, ReadOnlyRefused, VerifyFailed
from console.kinds.base import BackupRequest
from console.kinds.certs.restore import restore_certs
from console.runner import execute
from console.verify.run import verify_set
from tests.certs_fixtures import P12_PASSWORD, build_cert_tree
from tests.console.test_crypto import openssl_encrypt
from tests.servers import require_binary

KEY = "certs-backup-key-9931"


@pytest.fixture
def tree(tmp_path):
    return build_cert_tree(tmp_path / "certs")


@pytest.fixture
def settings(make_settings, tree):
    return make_settings(**{"certs.cert_dir": str(tree.root), "certs.p12_password": P12_PASSWORD,
                            "encryption.key": KEY})


def run_backup(settings):
    result = execute(settings, BackupRequest("certs"))
    assert result.ok, result.message
    return result


def test_backup_is_encrypted_with_inventory_and_no_plaintext_key(settings, tree, backup_dir):
    result = run_backup(settings)
    stamp = result.set_id.split("/")[1]
    certs_dir = backup_dir / "certs"
    assert sorted(p.name for p in certs_dir.iterdir()) == [f"cert_inventory_{stamp}.json",
                                                          f"certificates_{stamp}.tar.gz.enc"]
    archive = certs_dir / f"certificates_{stamp}.tar.gz.enc"
    assert crypto.detect_format(archive) == "backup-console"
    for path in backup_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"PRIVATE KEY" not in data, path
            for key_text in tree.key_texts.values():
                body = key_text.splitlines()[1]
                assert body not in data, path
            assert KEY.encode() not in data and P12_PASSWORD.encode() not in data
    document = json.loads((certs_dir / f"cert_inventory_{stamp}.json").read_text())
    assert document["producer"].startswith("backup-console ") and document["set_id"] == result.set_id
    assert document["verification_status"] == "pending" and document["s3_uploaded"] is False
    assert len(document["certificates"]) == 7
    first = document["certificates"][0]
    assert {"file", "subject", "issuer", "valid_from", "valid_to", "serial", "sans", "fingerprint_sha256",
            "key_type", "key_size", "days_left", "key_matched"} <= set(first)
    assert document["artifacts"][0]["role"] == "archive"
    assert document["artifacts"][0]["size_bytes"] == archive.stat().st_size
    assert "backups" not in " ".join(document["files_included"])
    backup_set = scan(backup_dir, ["certs"]).find(result.set_id)
    assert read_metadata(backup_set).ours
    assert archive.stat().st_mode & 0o777 == 0o600


def test_restore_round_trip_and_overwrite_rules(settings, tree, backup_dir, tmp_path):
    set_id = run_backup(settings).set_id
    backup_set = scan(backup_dir, ["certs"]).find(set_id)
    target = tmp_path / "restored"
    restored = restore_certs(settings, backup_set, target)
    originals = sorted(p.relative_to(tree.root).as_posix() for p in tree.root.rglob("*")
                       if p.is_file() and p.suffix in (".crt", ".pem", ".key", ".p12", ".der"))
    assert sorted(restored.files) == originals
    for relative in originals:
        assert (target / relative).read_bytes() == (tree.root / relative).read_bytes()
    assert (target / "live" / "api.key").stat().st_mode & 0o777 == 0o600
    with pytest.raises(ConfirmationRequired):
        restore_certs(settings, backup_set, target)
    (target / "live" / "api.crt").write_text("changed")
    restore_certs(settings, backup_set, target, overwrite=True)
    assert (target / "live" / "api.crt").read_bytes() == (tree.root / "live" / "api.crt").read_bytes()


def test_restore_refused_read_only_and_wrong_key_writes_nothing(settings, make_settings, tree, backup_dir, tmp_path):
    set_id = run_backup(settings).set_id
    backup_set = scan(backup_dir, ["certs"]).find(set_id)
    with pytest.raises(ReadOnlyRefused):
        restore_certs(make_settings(read_only=True, **{"encryption.key": KEY}), backup_set, tmp_path / "a")
    with pytest.raises(CryptoError, match="wrong key"):
        restore_certs(make_settings(**{"encryption.key": "not it"}), backup_set, tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_damaged_archive_is_detected_before_writing(settings, backup_dir, tmp_path, make_settings, damage):
    set_id = run_backup(settings).set_id
    backup_set = scan(backup_dir, ["certs"]).find(set_id)
    archive = backup_set.file("archive").path
    blob = archive.read_bytes()
    archive.write_bytes(blob[:-16] if damage == "truncate" else blob[:500] + bytes([blob[500] ^ 1]) + blob[501:])
    # Checksums in the inventory catch it first; without them (an explicit override), decryption itself must.
    backup_set.metadata_path.unlink()
    backup_set = scan(backup_dir, ["certs"]).sets[0]
    with pytest.raises(VerifyFailed, match="without checksums"):
        restore_certs(settings, backup_set, tmp_path / "restored")
    with pytest.raises(CryptoError):
        restore_certs(settings, backup_set, tmp_path / "restored", allow_unverified=True)
    assert not (tmp_path / "restored").exists() or not any((tmp_path / "restored").iterdir())


def test_manual_openssl_archive_and_array_inventory_are_read(make_settings, tree, backup_dir, tmp_path):
    """The manual's set: tar czf | openssl enc -aes-256-cbc -k KEY, inventory as a bare JSON array."""
    certs_dir = backup_dir / "certs"
    certs_dir.mkdir(parents=True)
    plain = tmp_path / "legacy.tar.gz"
    subprocess.run([require_binary("tar"), "--create", "--gzip", "--file", str(plain), "-C", str(tree.root),
                    "live", "chain.pem"], check=True)
    openssl_encrypt(plain, certs_dir / "certificates_20250101_020000.tar.gz.enc", ["-md", "sha256"], key=KEY)
    (certs_dir / "cert_inventory_20250101_020000.json").write_text(json.dumps(
        [{"file": "./backups/certs/live/api.crt", "subject": "CN = api.example.com", "issuer": "CN = x",
          "valid_from": "Jan  1 00:00:00 2025 GMT", "valid_to": "Jan  1 00:00:00 2026 GMT"}]))
    backup_set = scan(backup_dir, ["certs"]).sets[0]
    assert read_metadata(backup_set).document is None  # the generic reader wants an object
    metadata = next(outcome for outcome in verify_set(make_settings(**{"encryption.key": KEY}), backup_set,
                                                       record=False).checks if outcome.check == "metadata")
    assert metadata.status == "passed" and "lists 1 certificate(s) (the manual's format)" in metadata.message
    target = tmp_path / "restored"
    restored = restore_certs(make_settings(**{"encryption.key": KEY}), backup_set, target)
    assert "live/api.key" in restored.files
    assert (target / "live" / "api.key").read_bytes() == (tree.root / "live" / "api.key").read_bytes()
    assert (target / "chain.pem").read_bytes() == (tree.root / "chain.pem").read_bytes()


def test_backup_without_key_fails_and_leaves_nothing(make_settings, tree, backup_dir):
    result = execute(make_settings(**{"certs.cert_dir": str(tree.root)}), BackupRequest("certs"))
    assert result.status == "failed" and "encryption key" in result.message.lower()
    assert not (backup_dir / "certs").exists() or not list((backup_dir / "certs").iterdir())


def test_cli_backup_and_restore_keep_the_key_out_of_output(tree, backup_dir, tmp_path, monkeypatch, capsys):
    from console.cli import main

    monkeypatch.setenv("BACKUP_ENCRYPTION_KEY", KEY)
    monkeypatch.setenv("BACKUP_DIR", str(backup_dir))
    assert main(["backup", "certs", "--cert-dir", str(tree.root)]) == 0
    archive = next((backup_dir / "certs").glob("*.enc"))
    assert main(["restore", "certs", str(archive), "--to", str(tmp_path / "out")]) == 0
    assert main(["restore", "certs", str(archive), "--to", str(tmp_path / "out")]) == 2
    assert main(["--read-only", "restore", "certs", str(archive), "--to", str(tmp_path / "other")]) == 2
    captured = capsys.readouterr()
    assert KEY not in captured.out + captured.err
    assert "already exist" in captured.err and "read-only" in captured.err
    assert (tmp_path / "out" / "live" / "api.key").read_bytes() == (tree.root / "live" / "api.key").read_bytes()
    assert not (tmp_path / "other").exists()
    assert os.listdir(backup_dir / "certs")


def test_certbot_style_links_outside_cert_dir_are_archived_as_content(make_settings, tree, backup_dir, tmp_path):
    letsencrypt = tmp_path / "letsencrypt"
    (letsencrypt / "archive" / "site").mkdir(parents=True)
    (letsencrypt / "live" / "site").mkdir(parents=True)
    for name in ("cert1.pem", "privkey1.pem"):
        source = tree.root / ("live/api.crt" if name == "cert1.pem" else "live/api.key")
        (letsencrypt / "archive" / "site" / name).write_bytes(source.read_bytes())
    os.symlink("../../archive/site/cert1.pem", letsencrypt / "live" / "site" / "cert.pem")
    os.symlink("../../archive/site/privkey1.pem", letsencrypt / "live" / "site" / "privkey.pem")
    settings = make_settings(**{"certs.cert_dir": str(letsencrypt / "live"), "encryption.key": KEY})
    set_id = run_backup(settings).set_id
    inventory = json.loads(next((backup_dir / "certs").glob("cert_inventory_*.json")).read_text())
    assert inventory["certificates"][0]["private_key_file"] == "site/privkey.pem"
    target = tmp_path / "restored"
    restore_certs(settings, scan(backup_dir, ["certs"]).find(set_id), target)
    assert not (target / "site" / "cert.pem").is_symlink()
    assert (target / "site" / "privkey.pem").read_bytes() == (tree.root / "live" / "api.key").read_bytes()



def test_a_run_in_a_second_already_used_waits_for_a_free_stamp(settings, backup_dir):
    import datetime as dt
    import shutil

    from console.catalog import scan

    first = run_backup(settings)
    primary = next(info.path for info in first.files if info.name.startswith("certificates_"))
    now = dt.datetime.now()
    taken = {(now + dt.timedelta(seconds=n)).strftime("%Y%m%d_%H%M%S") for n in range(3)}
    for stamp in taken:  # sets made this second and the next two, as a fast earlier run would leave
        if stamp != first.set_id.rsplit("/", 1)[1]:
            shutil.copy(primary, backup_dir / "certs" / "certificates_{}.tar.gz.enc".format(stamp))
    second = run_backup(settings)
    assert second.set_id.rsplit("/", 1)[1] not in taken | {first.set_id.rsplit("/", 1)[1]}
    assert second.set_id in [s.set_id for s in scan(backup_dir, ["certs"]).sets]


def test_the_manuals_inventory_does_not_count_a_key_copy_as_a_certificate(make_settings, backup_dir):
    """The manual's script runs openssl x509 on every *.pem it copied, keys included: their entries are empty."""
    import json as json_module

    from console.catalog import scan
    from console.verify.run import verify_set

    certs = backup_dir / "certs"
    certs.mkdir(parents=True)
    entries = [
        {"file": "/backups/certs/etc/ssl/api.pem", "subject": "CN = api.example.com", "issuer": "CN = CA",
         "valid_from": "Jan  1 00:00:00 2026 GMT", "valid_to": "Jan  1 00:00:00 2027 GMT"},
        {"file": "/backups/certs/etc/ssl/api-key.pem", "subject": "", "issuer": "", "valid_from": "", "valid_to": ""},
    ]
    (certs / "cert_inventory_20261101_020000.json").write_text(json_module.dumps(entries))
    (certs / "certificates_20261101_020000.tar.gz.enc").write_bytes(b"Salted__" + b"\0" * 40)
    (backup_set,) = scan(backup_dir).by_kind("certs")
    result = verify_set(make_settings(), backup_set, record=False)
    metadata = next(outcome for outcome in result.checks if outcome.check == "metadata")
    assert "lists 1 certificate(s)" in metadata.message and "a key copy?" in metadata.message, metadata.message
