"""Malformed metadata: one bad file is a failed check of its own set, named; everything else goes on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.faults.conftest import Console, canary_hits, count_fault, sets_of

KINDS = ("postgres", "redis", "rabbitmq", "config", "certs")
DAMAGE = {
    "nan-artifacts": lambda text: text.replace('"artifacts": [', '"artifacts": NaN, "was": [', 1),
    "deep-nesting": lambda text: "[" * 100_000 + "]" * 100_000,
    "artifacts-not-objects": lambda text: text.replace('"artifacts": [', '"artifacts": [1, "x", null], "was": [', 1),
    "wrong-types": lambda text: text.replace('"timestamp": "', '"timestamp": 12, "was": "', 1),
}


def metadata_file(backup_dir: Path, kind: str) -> Path:
    names = {"postgres": "backup_*.json", "redis": "snapshot_*.json", "rabbitmq": "backup_*.json",
             "config": "manifest_*.json", "certs": "cert_inventory_*.json"}
    return next((backup_dir / kind).glob(names[kind]))


_OTHERS = [name for name in DAMAGE if name != "deep-nesting"]
PAIRS = [pair for index, kind in enumerate(KINDS) for pair in ((kind, "deep-nesting"), (kind, _OTHERS[index % 3]))]
"""Every kind meets deep nesting and one other damage; every damage meets at least one kind (time is shared)."""


@pytest.mark.parametrize(("kind", "damage"), PAIRS)
def test_one_malformed_metadata_fails_only_its_set(estate_console: Console, backup_dir: Path, kind: str,
                                                   damage: str, tmp_path: Path) -> None:
    path = metadata_file(backup_dir, kind)
    path.write_text(DAMAGE[damage](path.read_text()))
    count_fault()
    verified = estate_console.run("verify", "--json")
    assert verified.code == 1, verified.err
    assert "Traceback" not in verified.err and "internal error" not in verified.err
    report = json.loads(verified.out)
    by_kind = {entry["set_id"].split("/", 1)[0]: entry for entry in report["sets"]}
    assert by_kind[kind]["status"] == "failed"
    failed = [o for o in by_kind[kind]["checks"] if o["status"] == "failed"]
    assert any(path.name in (o.get("file") or "") + o["message"] for o in failed), failed
    assert all(by_kind[other]["status"] != "failed" for other in KINDS if other != kind), \
        [(k, o["message"]) for k, v in by_kind.items() for o in v["checks"] if o["status"] == "failed"]
    for argv in (("monitor", "--json", "--no-alerts"), ("retention", "plan", "--json", "--local-only"),
                 ("status", "--json")):
        done = estate_console.run(*argv)
        assert "Traceback" not in done.err and "internal error" not in done.err, (argv, done.err)
        assert done.code in (0, 1), (argv, done.code, done.err)
    assert canary_hits(backup_dir, *estate_console.outputs) == []


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("damage", ["random-bytes", "deleted"])
def test_our_set_without_usable_metadata_fails_verification(estate_console: Console, backup_dir: Path, kind: str,
                                                             damage: str) -> None:
    """Garbage (or no) metadata on a set we wrote is a failed check, never a 'legacy' warning."""
    import os

    path = metadata_file(backup_dir, kind)
    if damage == "deleted":
        path.unlink()
    else:
        path.write_bytes(os.urandom(4096))
    count_fault()
    verified = estate_console.run("verify", "--json", "--kind", kind)
    assert verified.code == 1, verified.out
    report = json.loads(verified.out)
    failed = [o["message"] for entry in report["sets"] for o in entry["checks"] if o["status"] == "failed"]
    assert any("backup-console wrote" in message for message in failed), failed


RESTORES = {
    "config": lambda to: ("restore", "config", "--to", str(to)),
    "certs": lambda to: ("restore", "certs", "--to", str(to)),
    "redis": lambda to: ("restore", "redis", "--data-dir", str(to)),
}


@pytest.mark.parametrize("kind", list(RESTORES))
def test_restoring_our_set_without_checksums_needs_an_override(estate_console: Console, backup_dir: Path,
                                                               kind: str, tmp_path: Path) -> None:
    import os

    path = metadata_file(backup_dir, kind)
    path.write_bytes(os.urandom(2048))
    count_fault()
    set_id = next(p for p in sets_of(backup_dir, kind) if p != path)
    target = tmp_path / f"restore-{kind}"
    target.mkdir()
    refused = estate_console.run(*RESTORES[kind](target), str(set_id))
    assert refused.code == 1, refused.err
    assert "without checksums" in refused.err and "--allow-unverified" in refused.err
    assert list(target.iterdir()) == []
    allowed = estate_console.run(*RESTORES[kind](target), str(set_id), "--allow-unverified")
    assert allowed.code == 0, allowed.err
    assert list(target.iterdir())


def test_backups_and_restored_files_are_private_by_default(estate: object, estate_console: Console, backup_dir: Path,
                                                           tmp_path: Path) -> None:
    import stat

    for kind in KINDS:
        assert stat.S_IMODE((estate.template / kind).stat().st_mode) == 0o700, kind  # type: ignore[attr-defined]
        for path in sets_of(estate.template, kind):  # type: ignore[attr-defined]
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    target = tmp_path / "redis-data"
    target.mkdir()
    rdb = next(p for p in sets_of(backup_dir, "redis") if p.name.endswith(".rdb.gz"))
    done = estate_console.run("restore", "redis", str(rdb), "--data-dir", str(target), "--with-aof")
    assert done.code == 0, done.err
    placed = [p for p in target.rglob("*")]
    assert placed
    for path in placed:
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path


@pytest.mark.parametrize("text,expected", [("file_mode: 0640\n", "0640"), ("file_mode: '0600'\n", "0600")])
def test_modes_are_settings(tmp_path: Path, text: str, expected: str) -> None:
    from console.config import load_settings

    config = tmp_path / "modes.yaml"
    config.write_text(text)
    assert load_settings(config, env={}).file_mode == expected


def test_a_setuid_mode_is_refused(tmp_path: Path) -> None:
    from console.config import load_settings
    from console.errors import ConfigError

    config = tmp_path / "modes.yaml"
    config.write_text("dir_mode: '4755'\n")
    with pytest.raises(ConfigError, match="setuid"):
        load_settings(config, env={})
