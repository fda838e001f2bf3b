"""An unhandled error in the console: exit status 1, one line on the terminal, the traceback in a file."""

from __future__ import annotations

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
