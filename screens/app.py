"""BackupConsoleApp: global bindings, theme, keymap, and the registry of screens.

Screens are imported lazily by name (SCREEN_FACTORIES) so the first frame is painted before
heavy modules load; other modules open them with ``app.open_screen(name, **kwargs)``.
"""

from __future__ import annotations

import importlib
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from textual.app import App
from textual.binding import Binding

from screens.commands import ConsoleCommands

if TYPE_CHECKING:
    from console.config import Settings
    from console.probes import ProbeResult

THEMES_DIR = Path(__file__).resolve().parent.parent / "themes"

SCREEN_FACTORIES: dict[str, str] = {
    "dashboard": "screens.dashboard:DashboardScreen",
    "service-detail": "screens.service_detail:ServiceDetailScreen",
    "help": "screens.help:HelpScreen",
    "checklist": "screens.checklist:ChecklistScreen",
    "drill": "screens.drill:DrillScreen",
    "drills": "screens.drills:DrillsScreen",
    "retention": "screens.retention:RetentionScreen",
    "troubleshoot": "screens.troubleshoot:TroubleshootScreen",
    "reports": "screens.reports:ReportsScreen",
    "backup": "screens.backup:BackupScreen",
    "certificates": "screens.certificates:CertificatesScreen",
    "pitr": "screens.pitr:PitrScreen",
    # --- add screens here: "name": "module:Class" (open with app.open_screen("name", **kwargs)) ---
}

Clock = Callable[[], datetime]
Prober = Callable[..., "list[ProbeResult]"]


def _default_prober(settings: Settings, names: list[str] | None = None,
                    on_result: Callable[[ProbeResult], None] | None = None) -> list[ProbeResult]:
    from console.probes import probe_all

    return probe_all(settings, names, on_result)


class BackupConsoleApp(App[int]):
    """The interactive console. ``clock`` and ``prober`` are injectable so tests can freeze time and output."""

    TITLE = "backup-console"
    CSS_PATH = [
        THEMES_DIR / "base.tcss",
        THEMES_DIR / "dashboard.tcss",
        THEMES_DIR / "checklist.tcss",
        THEMES_DIR / "drill.tcss",
        THEMES_DIR / "retention.tcss",
        THEMES_DIR / "troubleshoot.tcss",
        THEMES_DIR / "reports.tcss",
        THEMES_DIR / "backup.tcss",
        THEMES_DIR / "certificates.tcss",
        THEMES_DIR / "pitr.tcss",
        # --- add one stylesheet per screen here ---
    ]
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit", tooltip="Leave the console"),
        Binding("question_mark,f1", "help", "Help", id="help", tooltip="Keys and help for this screen"),
    ]

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        prober: Prober | None = None,
        start_screen: str = "dashboard",
        start_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.clock: Clock = clock or (lambda: datetime.now().astimezone())
        self.prober: Prober = prober or _default_prober
        self._start = (start_screen, start_kwargs or {})

    def on_mount(self) -> None:
        from themes import register_themes

        for problem in register_themes(self):
            self.notify(problem, title="theme", severity="warning")
        if self.settings.ui.theme in self.available_themes:
            self.theme = self.settings.ui.theme
        if self.settings.ui.keymap:
            self.set_keymap(self.settings.ui.keymap)
        if self.settings.read_only:
            self.sub_title = "READ-ONLY"
        name, kwargs = self._start
        if name != "dashboard":
            self.open_screen("dashboard")
        self.open_screen(name, **kwargs)

    def screen_class(self, name: str) -> type:
        module_name, _, class_name = SCREEN_FACTORIES[name].partition(":")
        return getattr(importlib.import_module(module_name), class_name)

    def open_screen(self, name: str, /, **kwargs: Any) -> None:
        self.push_screen(self.screen_class(name)(**kwargs))

    def action_open(self, name: str) -> None:
        """Palette and bindings open screens by name: ``app.open('backup')``."""
        self.open_screen(name)

    def action_help(self) -> None:
        from screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))


def run_app(settings: Settings, start_screen: str = "dashboard", **start_kwargs: Any) -> int:
    app = BackupConsoleApp(settings, start_screen=start_screen, start_kwargs=start_kwargs)
    return app.run() or 0
