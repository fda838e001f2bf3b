"""Stylesheets (.tcss) and themes as data: each themes/*.yaml becomes a Textual Theme."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.errors import ConfigError

if TYPE_CHECKING:
    from textual.app import App

THEMES_DIR = Path(__file__).resolve().parent
THEME_KEYS = ("primary", "secondary", "accent", "warning", "error", "success", "foreground", "background",
              "surface", "panel", "boost", "dark")


def register_themes(app: App[object], directory: Path = THEMES_DIR) -> list[str]:
    """Register every theme file; return one problem line per broken file (the app falls back)."""
    from textual.theme import Theme

    problems = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            app.register_theme(Theme(**read_theme(path)))
        except ConfigError as exc:
            problems.append(f"theme file {path.name} ignored: {exc.message}")
        except (ValueError, TypeError) as exc:  # a colour Textual cannot parse
            problems.append(f"theme file {path.name} ignored: {exc}")
    return problems


def read_theme(path: Path) -> dict[str, Any]:
    """A theme file's keys, checked like every YAML file an operator writes (file:line, nearest key)."""
    from console.yamlfile import read_yaml

    with read_yaml(path, "theme file") as root:
        if root is None or not root.is_mapping:
            raise ConfigError(f"{root or path}: a theme file must be a mapping with at least 'name' and 'primary'")
        fields = root.fields(("name", "variables", *THEME_KEYS), "the theme")
        for required in ("name", "primary"):
            if required not in fields:
                raise ConfigError(f"{root.where}: the theme needs '{required}'")
        return {key: fields.value(key) for key in fields}
