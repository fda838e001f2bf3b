"""Configuration faults: each is one line naming file:line, exit 2; never an internal error."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.cli import main
from console.config import load_settings
from console.errors import ConfigError
from tests.faults.conftest import count_fault

CASES = [
    pytest.param("timeout_seconds: .nan\n", 1, "finite number", id="nan"),
    pytest.param("timeout_seconds: .inf\n", 1, "finite number", id="infinity"),
    pytest.param("? [a, b]\n: 1\n", 1, "plain name", id="complex-key"),
    pytest.param("postgres:\n  ? {a: b}\n  : 1\n", 2, "plain name", id="complex-key-in-section"),
    pytest.param('backup_dir: ""\n', 1, "is empty", id="empty-backup-dir"),
    pytest.param("timeout_seconds: 2\ntimeout_seconds: 3\n", 2, "given twice (first at line 1)", id="duplicate-key"),
    pytest.param("postgres:\n  port: 5432\n  port: 5433\n", 3, "given twice", id="duplicate-key-in-section"),
    pytest.param("postgres:\n  databases: [1, {a: b}]\n", 2, "item 2 is a mapping", id="list-of-mixed"),
    pytest.param("ui:\n  keymap: {refresh: [a, b]}\n", 2, "must map names to values", id="nested-keymap"),
]


@pytest.mark.parametrize(("text", "line", "expected"), CASES)
def test_config_fault_is_one_line_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     text: str, line: int, expected: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    count_fault()
    with pytest.raises(ConfigError) as caught:
        load_settings(config, env={})
    assert f"{config}:{line}:" in caught.value.message and expected in caught.value.message, caught.value.message
    assert main(["--config", str(config), "status", "--json"]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err and "internal error" not in err


@pytest.mark.parametrize("variable,value", [("BACKUP_RETENTION_DAYS", "nan"), ("POSTGRES_PORT", "inf")])
def test_environment_nan_is_refused(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, env={variable: value})
    assert variable in caught.value.message
