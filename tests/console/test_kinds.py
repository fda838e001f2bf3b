"""The shape of a kind: one descriptor per kind in one registry, names written and read by one layout,
and a sixth kind (tests/sixth_kind) that works on every path with one line added to the registry."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from console.catalog import scan
from console.cli import main
from console.kinds import layouts, registry
from console.runner import execute
from console.verify.run import verify_set
from tests.sixth_kind.kind import KIND as NOTES

STAMP = "20261207_020000"

GOLDEN_NAMES = {
    # the manual's names (and ours where the manual has none): writing them must never change
    ("postgres", "dump", ""): "backup_app_20261207_020000.dump",
    ("postgres", "dump", ".zst"): "backup_app_20261207_020000.dump.zst",
    ("postgres", "sql", ".gz"): "backup_app_20261207_020000.sql.gz",
    ("postgres", "sql", ".zst"): "backup_app_20261207_020000.sql.zst",
    ("postgres", "metadata", ""): "backup_app_20261207_020000.json",
    ("postgres", "archive", ""): "archives/backup_20261207_020000.tar",
    ("redis", "rdb", ".gz"): "snapshot_20261207_020000.rdb.gz",
    ("redis", "aof", "aof.gz"): "aof_20261207_020000.aof.gz",
    ("redis", "aof", "tar.gz"): "aof_20261207_020000.tar.gz",
    ("redis", "metadata", ""): "snapshot_20261207_020000.json",
    ("rabbitmq", "definitions", ".gz"): "definitions_20261207_020000.json.gz",
    ("rabbitmq", "definitions", ".gz.enc"): "definitions_20261207_020000.json.gz.enc",
    ("rabbitmq", "metadata", ""): "backup_20261207_020000.json",
    ("config", "tarball", ""): "config_20261207_020000.tar.gz",
    ("config", "metadata", ""): "manifest_20261207_020000.json",
    ("certs", "archive", ""): "certificates_20261207_020000.tar.gz.enc",
    ("certs", "metadata", ""): "cert_inventory_20261207_020000.json",
}


def test_registry_and_layouts_list_the_same_kinds() -> None:
    assert list(registry.KINDS) == list(layouts.LAYOUTS) == ["postgres", "redis", "rabbitmq", "config", "certs"]
    for name, kind in registry.KINDS.items():
        assert kind.layout is layouts.LAYOUTS[name]
        assert set(kind.checks) and all(check.id == f"{name}.{short}" for short, check in kind.checks.items())
        assert all(registry.get_check(check_id) for check_id in kind.preflight)


@pytest.mark.parametrize(("kind", "role", "suffix"), sorted(GOLDEN_NAMES))
def test_names_are_written_as_the_manual_wrote_them_and_read_back(kind: str, role: str, suffix: str) -> None:
    layout = layouts.LAYOUTS[kind]
    name = layout.name(role, STAMP, suffix, name="app")
    assert name == GOLDEN_NAMES[(kind, role, suffix)]
    parsed_role, stamp, groups = layout.match(name)
    assert (parsed_role, stamp) == (role, STAMP)
    assert groups.get("name") in (None, "app")


def test_listing_and_encrypted_file_roles_come_from_the_name() -> None:
    rabbit, config = layouts.LAYOUTS["rabbitmq"], layouts.LAYOUTS["config"]
    assert rabbit.name("{listing}", STAMP, "txt.gz", listing="queues") == "queues_20261207_020000.txt.gz"
    assert rabbit.match("message_counts_20261207_020000.txt.gz")[0] == "message_counts"
    assert config.match(".env.production_20261207_020000.enc")[0] == "enc:.env.production"
    assert rabbit.match("unknown_20261207_020000.txt") is None


def test_unknown_kind_names_the_choices_and_the_nearest() -> None:
    with pytest.raises(Exception, match=r"unknown backup kind 'postgress' \(did you mean 'postgres'\?\)"):
        registry.get("postgress")


@pytest.fixture
def notes_registered(monkeypatch):
    """Adding the sixth kind: its line in the registry (and its layout's line beside it)."""
    monkeypatch.setitem(registry.KINDS, NOTES.name, NOTES)
    monkeypatch.setitem(layouts.LAYOUTS, NOTES.name, NOTES.layout)
    return NOTES


def test_a_sixth_kind_backs_up_verifies_and_fails_verification_through_the_shared_paths(
        notes_registered, tmp_path: Path, backup_dir: Path, make_settings, monkeypatch, capsys) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("remember the milk\n")
    monkeypatch.setenv("BACKUP_DIR", str(backup_dir))
    # the CLI builds its flags from the descriptor: the target flag and the option
    assert main(["backup", "notes", "--file", str(notes), "--upper", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "ok" and [c["id"] for c in result["checks"]] == ["notes.source_readable"]
    settings = make_settings()
    [backup_set] = scan(settings.backup_dir, ["notes"]).sets
    assert backup_set.set_id == result["set_id"] and backup_set.is_backup
    assert gzip.decompress(backup_set.file("notes").path.read_bytes()) == b"REMEMBER THE MILK\n"
    assert verify_set(settings, backup_set, record=False).status == "passed"
    damaged = backup_set.file("notes").path
    damaged.write_bytes(damaged.read_bytes()[:-4])
    assert verify_set(settings, backup_set, record=False).status == "failed"
    # the runner's pre-flight gate applies to it like to any kind
    failed = execute(settings, NOTES.request(settings, str(tmp_path / "missing.txt")))
    assert failed.status == "failed" and "not a file" in failed.message
