"""The theme the settings name is the one the first frame is drawn with (the stylesheets parsed once,
with its colours), and an unknown name keeps Textual's default instead of failing."""

from __future__ import annotations

from textual.color import Color
from textual.css.stylesheet import Stylesheet

from screens.app import BackupConsoleApp
from tests.screens.conftest import fixed_prober, frozen_clock


async def test_the_configured_theme_is_set_before_the_first_frame(make_settings):
    app = BackupConsoleApp(make_settings(**{"ui.theme": "backup-console"}), clock=frozen_clock, prober=fixed_prober())
    assert app.theme == "backup-console"  # set when the app is built: the stylesheets are parsed once, with it
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.current_theme.name == "backup-console"
        assert app.get_css_variables()["primary"] == app.current_theme.primary


async def test_a_theme_name_nobody_registered_keeps_the_default(make_settings):
    app = BackupConsoleApp(make_settings(**{"ui.theme": "no-such-theme"}), clock=frozen_clock, prober=fixed_prober())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.theme != "no-such-theme" and app.current_theme is not None


async def test_the_first_frame_parses_the_stylesheets_once_and_with_the_themes_colours(make_settings, monkeypatch):
    """The theme is in place before the first parse: Textual's re-parse for a new theme never runs."""
    reparsed = []
    real_reparse = Stylesheet.reparse
    monkeypatch.setattr(Stylesheet, "reparse", lambda self: reparsed.append(1) or real_reparse(self))
    app = BackupConsoleApp(make_settings(**{"ui.theme": "backup-console"}), clock=frozen_clock, prober=fixed_prober())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert reparsed == []
        assert app.has_class("-theme-backup-console")
        assert app.screen.styles.background == Color.parse(app.current_theme.background)


async def test_a_light_theme_is_set_as_textual_sets_it(make_settings):
    """A theme that changes dark or ANSI mode goes through Textual's own watcher (its colour filter)."""
    app = BackupConsoleApp(make_settings(**{"ui.theme": "textual-light"}), clock=frozen_clock, prober=fixed_prober())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.current_theme.name == "textual-light" and app.has_class("-light-mode")
        assert app.screen.styles.background == Color.parse(app.get_css_variables()["background"])
