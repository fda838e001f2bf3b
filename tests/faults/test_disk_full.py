"""Disk full on a small tmpfs mid-write, for every kind: one line naming where, a failed run on
record, nothing partial, nothing older changed, and the next run succeeds once there is room."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from tests.faults.conftest import Console, Estate, count_fault, fill

KINDS = ("postgres", "redis", "rabbitmq", "config", "certs")


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.parent.name in KINDS}


@pytest.mark.parametrize("kind", KINDS)
def test_disk_full_mid_backup(kind: str, estate: Estate, small_disk: Path, base_env: dict[str, str]) -> None:
    backup_dir = small_disk / "backups"
    shutil.copytree(estate.template, backup_dir)
    console = Console({**base_env, **estate.env, "BACKUP_DIR": str(backup_dir)})
    before = _digests(backup_dir)
    filler = fill(small_disk, leave=8 * 1024)
    count_fault()
    failed = console.run("backup", kind, "--json", "--force", "--reason", "disk-full fault test")
    assert failed.code == 1, failed.err
    assert "Traceback" not in failed.err and "internal error" not in failed.err and "?:" not in failed.err
    message = json.loads(failed.out)["message"]
    assert "space" in message.lower() and str(backup_dir) in message, message
    runs = [json.loads(line) for line in (backup_dir / ".runs" / "runs.jsonl").read_text().splitlines()]
    assert runs[-1]["kind"] == kind and runs[-1]["status"] == "failed"
    assert not list(backup_dir.rglob("*.partial"))
    assert _digests(backup_dir) == before, "a failed run changed or removed older files"

    filler.unlink()
    again = console.run("backup", kind, "--json", "--force", "--reason", "a small disk for the test")
    assert again.code == 0, again.err


def test_disk_full_during_verify_names_the_report(estate: Estate, small_disk: Path, base_env: dict[str, str]) -> None:
    backup_dir = small_disk / "backups"
    shutil.copytree(estate.template, backup_dir)
    console = Console({**base_env, **estate.env, "BACKUP_DIR": str(backup_dir)})
    fill(small_disk, leave=0)
    count_fault()
    done = console.run("verify")
    assert done.code == 1, done.err
    assert "Traceback" not in done.err and "?:" not in done.err
    assert "No space left on device" in done.err and str(backup_dir) in done.err, done.err
