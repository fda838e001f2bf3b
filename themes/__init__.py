"""Stylesheets (.tcss) and themes as data: each themes/*.yaml becomes a Textual Theme."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.app import App

THEMES_DIR = Path(__file__).resolve().parent
THEME_KEYS = ("primary", "secondary", "accent", "warning", "error", "success", "foreground", "background",
              "surface", "panel", "boost", "dark")


def register_themes(app: App[object], directory: Path = THEMES_DIR) -> list[str]:
    """Register every theme file; return one problem line per broken file (the app falls back)."""
    import yaml
    from textual.theme import Theme

    problems = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or "name" not in data or "primary" not in data:
                raise ValueError("needs at least 'name' and 'primary'")
            unknown = set(data) - {"name", "variables", *THEME_KEYS}
            if unknown:
                raise ValueError(f"unknown keys {', '.join(sorted(unknown))}")
            app.register_theme(Theme(**data))
        except (OSError, ValueError, TypeError, yaml.YAMLError) as exc:
            problems.append(f"theme file {path.name} ignored: {exc}")
    return problems
