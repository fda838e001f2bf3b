"""Each screen carries its own stylesheet (its CSS_PATH), read when it is first opened: the first frame
waits only for base.tcss and the dashboard's, and every other screen still gets its look.

The screens' stylesheets are read in the order screens are first opened, so that order must not matter:
no two of them may style the same thing.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest
from textual.css.stylesheet import Stylesheet
from textual.screen import Screen

import screens
from screens.app import BackupConsoleApp
from screens.text_prompt import TextPromptModal
from tests.screens.conftest import fixed_prober, frozen_clock
from themes import THEMES_DIR

FIRST_FRAME = {"base.tcss", "dashboard.tcss"}


def our_stylesheets(app: BackupConsoleApp) -> set[str]:
    return {Path(path).name for path, _ in app.stylesheet.source if path and Path(path).parent == THEMES_DIR}


async def test_the_first_frame_reads_only_the_shared_and_the_dashboards_stylesheets(make_settings):
    app = BackupConsoleApp(make_settings(), clock=frozen_clock, prober=fixed_prober())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert type(app.screen).__name__ == "DashboardScreen"
        assert our_stylesheets(app) == FIRST_FRAME


def screen_classes() -> list[type[Screen]]:
    """Every screen and modal defined in screens/."""
    modules = [importlib.import_module(f"screens.{info.name}") for info in pkgutil.iter_modules(screens.__path__)]
    return [value for module in modules for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, Screen) and value.__module__ == module.__name__]


def stylesheets_of(screen: type[Screen]) -> list[Path]:
    paths = screen.CSS_PATH if isinstance(screen.CSS_PATH, list) else [screen.CSS_PATH]
    return [Path(path) for path in paths if path]


def test_every_stylesheet_is_read_by_the_app_or_a_screen_and_exists():
    named = {Path(path) for path in BackupConsoleApp.CSS_PATH}
    for screen in screen_classes():
        for path in stylesheets_of(screen):
            assert path.is_file(), f"{screen.__name__}: {path}"
            named.add(path)
    assert named == set(THEMES_DIR.glob("*.tcss"))  # one no screen names would never be read


# One rule of each screen's stylesheet, checked on the screen once it is open: (screen, its arguments,
# the widget, the style, its value as the stylesheet sets it).
OPENED = [
    ("backup", {}, "#backup-pickers", "height", "1"),
    ("certificates", {}, "#certs-summary", "max_height", "3"),
    ("checklist", {}, "#checklist-tabs", "height", "2"),
    ("drills", {}, "#drills-table", "height", "1fr"),
    ("drill", {}, "#drill-bar", "height", "1"),
    ("drill", {}, "#checklist-tabs", "height", "2"),  # the drill shows the checklists: checklist.tcss too
    ("fleet", {}, "#fleet-summary", "max_height", "3"),
    ("pitr", {}, "#pitr-inputs", "height", "3"),
    ("reports", {}, "#reports-status", "max_height", "3"),
    ("retention", {}, "#retention-kinds", "height", "8"),
    ("troubleshoot", {}, "#troubleshoot-body", "height", "1fr"),
]


@pytest.mark.parametrize(("name", "kwargs", "selector", "style", "value"), OPENED,
                         ids=[f"{row[0]}-{row[2]}" for row in OPENED])
async def test_a_screen_opened_from_the_dashboard_gets_its_stylesheet(make_settings, name, kwargs, selector, style,
                                                                      value):
    app = BackupConsoleApp(make_settings(), clock=frozen_clock, prober=fixed_prober())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.open_screen(name, **kwargs)
        await pilot.pause()
        assert str(getattr(app.screen.query_one(selector).styles, style)) == value


async def test_the_text_prompt_gets_its_stylesheet_wherever_it_is_opened(make_settings):
    app = BackupConsoleApp(make_settings(), clock=frozen_clock, prober=fixed_prober())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.push_screen(TextPromptModal("Note", "A note"))  # on the dashboard: no other screen's stylesheet read
        await pilot.pause()
        assert str(app.screen.query_one("#prompt-box").styles.width) == "70"


SELECTOR_NAMES = re.compile(r"[#.][A-Za-z_][\w-]*|\b[A-Z][A-Za-z]+\b")


def names_of(selector: str) -> set[str]:
    """The ids, classes and widget types a selector names; state classes (``.-ok``) are shared words."""
    return {name for name in SELECTOR_NAMES.findall(selector) if not name.startswith(".-")}


def rules_of(path: Path) -> list[str]:
    text = re.sub(r"/\*.*?\*/", "", path.read_text(), flags=re.S)
    return [selector.strip() for block in re.findall(r"([^{}]+)\{", text) for selector in block.split(",")]


def screen_stylesheets() -> list[Path]:
    return sorted(path for path in THEMES_DIR.glob("*.tcss") if path.name != "base.tcss")


def test_no_two_screen_stylesheets_style_the_same_thing():
    """Every rule of a screen's stylesheet names an id, a class or a screen no other screen's stylesheet
    names: two files never match the same widget with rules of equal weight, so the order Textual reads
    them in (the order screens are first opened) cannot change what wins."""
    named = {path.name: set().union(*(names_of(rule) for rule in rules_of(path))) for path in screen_stylesheets()}
    for path in screen_stylesheets():
        others = set().union(*(names for name, names in named.items() if name != path.name))
        for rule in rules_of(path):
            assert names_of(rule) - others, f"{path.name}: '{rule}' names nothing of its own"


async def test_a_screens_stylesheet_is_read_once_however_often_it_is_opened(make_settings, monkeypatch):
    """Textual re-parses every stylesheet when it reads a new one: only the first opening pays for it."""
    reparsed = []
    real_reparse = Stylesheet.reparse
    monkeypatch.setattr(Stylesheet, "reparse", lambda self: reparsed.append(1) or real_reparse(self))
    app = BackupConsoleApp(make_settings(), clock=frozen_clock, prober=fixed_prober())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        for _ in range(2):
            app.open_screen("retention")
            await pilot.pause()
            app.pop_screen()
            await pilot.pause()
        assert len(reparsed) == 1
