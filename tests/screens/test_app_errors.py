"""An unhandled error in the console: exit status 1, one line on the terminal, the traceback in a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from screens.app import BackupConsoleApp, state_dir
from tests.screens.conftest import fixed_prober, frozen_clock


async def test_an_unhandled_error_writes_its_traceback_to_the_state_dir(make_settings, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    app = BackupConsoleApp(make_settings(), clock=frozen_clock, prober=fixed_prober())

    def broken() -> None:
        raise RuntimeError("a bug in a handler")

    with pytest.raises(RuntimeError):
        async with app.run_test(size=(80, 24)) as pilot:
            app.call_later(broken)
            await pilot.pause(0.2)
    assert app.return_code == 1
    assert app.crash_log is not None and app.crash_log.parent == state_dir() == tmp_path / "state" / "backup-console"
    text = app.crash_log.read_text()
    assert "RuntimeError: a bug in a handler" in text and "Traceback" in text
    assert oct(app.crash_log.stat().st_mode & 0o777) == "0o600"
    assert not list(tmp_path.glob("*.log"))  # nothing in the working directory


def test_the_console_process_exits_1_and_names_the_traceback_file(tmp_path, backup_dir):
    """In a real terminal (script(1) gives it one): the terminal restored, one line, exit 1."""
    import os
    import shutil
    import subprocess
    import sys

    script = shutil.which("script")
    if script is None:
        pytest.skip("script(1) (util-linux) not installed")
    program = tmp_path / "crashing_console.py"
    program.write_text(
        "import sys\n"
        "from console.config import load_settings\n"
        "import screens.app as console_app\n"
        "from tests.screens.conftest import fixed_prober\n"
        "class Crashing(console_app.BackupConsoleApp):\n"
        "    def on_ready(self):\n"
        "        self.set_timer(0.5, lambda: 1 / 0)\n"
        "console_app.BackupConsoleApp = Crashing\n"
        f"settings = load_settings(None, env={{}}, overrides={{'backup_dir': {str(backup_dir)!r}}})\n"
        "sys.exit(console_app.run_app(settings))\n")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "PYTHONPATH": str(repo), "TERM": "xterm"}
    proc = subprocess.run([script, "-eqc", f"{sys.executable} {program}", "/dev/null"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert "backup-console: internal error: ZeroDivisionError: division by zero" in proc.stdout
    logs = list((tmp_path / "state" / "backup-console").glob("crash-*.log"))
    assert len(logs) == 1 and f"full traceback in {logs[0]}" in proc.stdout
    assert "Traceback" not in proc.stdout  # the traceback is in the file, not on the terminal
    assert not list(cwd.iterdir())
