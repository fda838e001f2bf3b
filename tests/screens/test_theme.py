"""The theme the settings name is the one the first frame is drawn with, and an unknown name
keeps Textual's default instead of failing."""

from __future__ import annotations

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
