"""Every YAML file an operator writes (config, checklist, retention policy, theme) is read by one
validator: a mistake is one line naming file:line, and a misspelt key gets the nearest valid one."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.checklists import parse_checklist_file
from console.config import load_settings
from console.errors import ConfigError
from console.retention.policy import SHIPPED_POLICY, read_policy
from console.yamlfile import read_yaml
from themes import THEMES_DIR, read_theme


def _config(path: Path) -> None:
    load_settings(path, env={})


def _checklist(path: Path) -> None:
    parse_checklist_file(path)


def _policy(path: Path) -> None:
    read_policy(path)


def _theme(path: Path) -> None:
    read_theme(path)


# (reader, a valid file, the same file with a misspelt key on line 3 and its nearest valid key)
FILES = {
    "config": (_config, "backup_dir: /tmp/x\npostgres:\n  host: db\n",
               "backup_dir: /tmp/x\npostgres:\n  hots: db\n", "host"),
    "checklist": (_checklist, "service: demo\nitems:\n  - {id: a, title: A, manual: true}\n",
                  "service: demo\nitems:\n  - {id: a, title: A, manul: true}\n", "manual"),
    "policy": (_policy, "rules:\n  redis:\n    local_days: 3\n",
               "rules:\n  redis:\n    local_dayz: 3\n", "local_days"),
    "theme": (_theme, "name: t\nprimary: '#ffffff'\ndark: true\n",
              "name: t\nprimary: '#ffffff'\ndrak: true\n", "dark"),
}


@pytest.mark.parametrize("kind", FILES)
def test_a_misspelt_key_names_its_line_and_the_nearest_key(tmp_path, kind):
    reader, good, bad, nearest = FILES[kind]
    path = tmp_path / f"{kind}.yaml"
    path.write_text(good)
    reader(path)
    path.write_text(bad)
    with pytest.raises(ConfigError) as caught:
        reader(path)
    assert str(caught.value).startswith(f"{path}:3: unknown key ")
    assert f"Did you mean '{nearest}'?" in str(caught.value)


@pytest.mark.parametrize("kind", FILES)
def test_a_key_given_twice_names_both_lines(tmp_path, kind):
    reader, good, _, _ = FILES[kind]
    first_key = good.splitlines()[0]
    path = tmp_path / f"{kind}.yaml"
    path.write_text(good + first_key + "\n")
    last = len(good.splitlines()) + 1
    with pytest.raises(ConfigError, match=rf"^{path}:{last}: .* is given twice \(first at line 1\)"):
        reader(path)


@pytest.mark.parametrize("kind", FILES)
def test_broken_yaml_names_its_line(tmp_path, kind):
    reader, good, _, _ = FILES[kind]
    path = tmp_path / f"{kind}.yaml"
    path.write_text(good + "oops: [unclosed\n")
    with pytest.raises(ConfigError, match=rf"^{path}:\d+: invalid YAML: "):
        reader(path)


def test_the_shipped_policy_and_themes_read_cleanly():
    assert "postgres" in read_policy(SHIPPED_POLICY).rules
    assert read_theme(THEMES_DIR / "backup-console.yaml")["name"] == "backup-console"


def test_a_policy_mistake_inside_a_rule_names_the_rules_line(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("rules:\n  redis:\n    local_days: 3\n  postgres:\n    archive_days: -1\n")
    with pytest.raises(ConfigError, match=rf"^{path}:5: rule 'postgres': archive_days"):
        read_policy(path)


def test_a_broken_theme_is_ignored_with_its_line_and_the_app_falls_back(tmp_path):
    from themes import register_themes

    (tmp_path / "good.yaml").write_text("name: good\nprimary: '#123456'\n")
    (tmp_path / "bad.yaml").write_text("name: bad\nprimary: '#123456'\nsurfce: '#000000'\n")

    class Recorder:
        def __init__(self) -> None:
            self.names: list[str] = []

        def register_theme(self, theme) -> None:
            self.names.append(theme.name)

    app = Recorder()
    problems = register_themes(app, tmp_path)  # type: ignore[arg-type]
    assert app.names == ["good"]
    assert problems == [f"theme file bad.yaml ignored: {tmp_path / 'bad.yaml'}:3: unknown key 'surfce' in the theme. "
                        "Did you mean 'surface'?"]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_reads_or_fails_with_one_line_naming_the_file(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("yaml") / "any.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        with read_yaml(path, "file") as root:
            if root is not None and root.is_mapping:
                fields = root.fields(None, "the file")
                for key in fields:
                    fields.value(key)
    except ConfigError as exc:
        assert str(exc).startswith(str(path))
        assert "\n" not in str(exc)


@pytest.mark.parametrize("kind", FILES)
def test_a_control_character_is_one_line_naming_its_line(tmp_path, kind):
    """It escaped as a traceback: pyyaml reads the first characters while the loader is made."""
    reader, good, _, _ = FILES[kind]
    path = tmp_path / f"{kind}.yaml"
    path.write_text(good + "note: \x1f\n")
    with pytest.raises(ConfigError, match=rf"^{path}:{len(good.splitlines()) + 1}: invalid YAML: .*#x001f"):
        reader(path)
