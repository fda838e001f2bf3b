"""No action defaults to the working directory: an unset source is "not configured", one line naming
the setting and its environment variable, exit 2, the same on every face."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

BIN = [sys.executable, "-m", "console.cli"]


def run(args, cwd, backup_dir, env_extra=None):
    env = {key: value for key, value in os.environ.items() if key not in ("CERT_DIR", "CONFIG_SOURCE_DIR")}
    env.update({"BACKUP_DIR": str(backup_dir), "BACKUP_ENCRYPTION_KEY": "k" * 32, **(env_extra or {})})
    return subprocess.run([*BIN, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


@pytest.fixture
def working_dir(tmp_path):
    """A working directory with a certificate and a secret in it: nothing may pick them up."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / ".env").write_text("SECRET=1\n")
    (cwd / "server.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    return cwd


@pytest.mark.parametrize(("args", "setting", "variable"), [
    (["backup", "config"], "config_backup.source_dir", "CONFIG_SOURCE_DIR"),
    (["backup", "certs"], "certs.cert_dir", "CERT_DIR"),
    (["certs", "status"], "certs.cert_dir", "CERT_DIR"),
])
def test_an_unset_source_is_not_configured_exit_2(args, setting, variable, working_dir, backup_dir):
    proc = run(args, working_dir, backup_dir)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("backup-console: error:")]
    assert len(errors) == 1 and proc.stderr.strip().endswith(errors[0]), proc.stderr  # progress lines, then one error
    assert setting in errors[0] and variable in errors[0] and "not configured" in errors[0], errors
    assert "--force" not in proc.stderr and "Traceback" not in proc.stderr
    assert not [path for kind in ("config", "certs") for path in (backup_dir / kind).rglob("*")]


def test_an_unset_source_in_json_mode_is_an_exit_error(working_dir, backup_dir):
    import json

    proc = run(["backup", "config", "--json"], working_dir, backup_dir)
    assert proc.returncode == 2
    error = json.loads(proc.stderr)
    assert error["code"] == 2 and "CONFIG_SOURCE_DIR" in error["message"]


def test_a_missing_key_hint_names_the_key_not_force(tmp_path, backup_dir):
    source = tmp_path / "app"
    source.mkdir()
    (source / ".env").write_text("SECRET=1\n")
    env = {"CONFIG_SOURCE_DIR": str(source), "BACKUP_ENCRYPTION_KEY": ""}
    for args in (["backup", "config"], ["backup", "config", "--force", "--reason", "try"]):
        proc = run(args, tmp_path, backup_dir, env)
        assert proc.returncode == 1, proc.stderr
        output = proc.stdout + proc.stderr
        assert "hint: set BACKUP_ENCRYPTION_KEY or encryption.key_file" in output, output
        assert "--force" not in output


@pytest.mark.parametrize(("args", "variable", "words"), [
    (["backup", "config"], "CONFIG_SOURCE_DIR", "config_backup.source_dir"),
    (["backup", "certs"], "CERT_DIR", "certs.cert_dir"),
])
def test_a_source_that_is_not_a_directory_hints_at_the_setting_not_force(args, variable, words, tmp_path,
                                                                           backup_dir):
    """An override cannot make a file (or a missing path) a directory: the hint names what would help."""
    not_a_directory = tmp_path / "app.conf"
    not_a_directory.write_text("x = 1\n")
    for extra in ([], ["--force", "--reason", "try"]):
        for path in (not_a_directory, tmp_path / "missing"):
            proc = run([*args, *extra], tmp_path, backup_dir, {variable: str(path)})
            output = proc.stdout + proc.stderr
            assert proc.returncode == 1, output
            assert f"{path} is not a directory" in output and f"hint: point {variable} ({words})" in output, output
            assert "--force" not in output and "Traceback" not in output
    assert not [path for kind in ("config", "certs") for path in (backup_dir / kind).rglob("*")]
