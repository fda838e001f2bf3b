"""A BACKUP_DIR that cannot be created (here: under /proc) gives one line naming it, exit 1, never a traceback."""

from __future__ import annotations

import pytest

from console.cli import main

UNUSABLE = "/proc/backup-console-cannot-create-this"


@pytest.mark.parametrize("argv", [["backup", "redis"], ["retention", "apply", "--yes"], ["verify"]])
def test_an_uncreatable_backup_dir_is_one_line(argv, monkeypatch, capsys):
    monkeypatch.setenv("BACKUP_DIR", UNUSABLE)
    assert main(argv) == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("backup-console: error:")]
    assert len(errors) == 1 and UNUSABLE in errors[0], err
    assert "Traceback" not in err and "internal error" not in err
