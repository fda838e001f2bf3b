"""Permission denied on BACKUP_DIR: one line naming the path, exit 1, never a traceback.

The suite runs as root, who is never refused; the console is then started without the
capabilities that bypass file permissions (``setpriv``), so the kernel refuses it for real.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.conftest import ROOT, Estate, count_fault

DROP = ["setpriv", "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search", "--"]


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DROP, sys.executable, "-m", "console.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env=env)


@pytest.fixture
def without_override() -> None:
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed: permission faults not run")
    probe = subprocess.run([*DROP, "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("capabilities cannot be dropped here: permission faults not run")


@pytest.mark.parametrize("kind", ["config", "redis"])
def test_a_read_only_kind_directory_is_one_line_naming_it(without_override: None, estate: Estate,
                                                          base_env: dict[str, str], backup_dir: Path,
                                                          kind: str) -> None:
    shutil.copytree(estate.template, backup_dir)
    (backup_dir / kind).chmod(0o500)
    env = {**base_env, **estate.env}
    count_fault()
    done = _run(env, "backup", kind, "--json")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    message = json.loads(done.stdout)["message"]
    assert "Permission denied" in message and str(backup_dir / kind) in message, message
    runs = [json.loads(line) for line in (backup_dir / ".runs" / "runs.jsonl").read_text().splitlines()]
    assert runs[-1]["kind"] == kind and runs[-1]["status"] == "failed"
    (backup_dir / kind).chmod(0o700)
    assert _run(env, "backup", kind, "--force", "--reason", "fault test").returncode == 0


def test_an_unreadable_backup_dir_is_one_line(without_override: None, estate: Estate, base_env: dict[str, str],
                                              backup_dir: Path) -> None:
    shutil.copytree(estate.template, backup_dir)
    backup_dir.chmod(0o000)
    try:
        count_fault()
        done = _run({**base_env, **estate.env}, "verify")
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr and "internal error" not in done.stderr
        assert "Permission denied" in done.stderr and str(backup_dir) in done.stderr, done.stderr
    finally:
        backup_dir.chmod(0o700)
