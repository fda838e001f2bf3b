"""BackupConsoleApp: global bindings, theme, keymap, and the registry of screens.

Screens are imported lazily by name (SCREEN_FACTORIES) so the first frame is painted before
heavy modules load; other modules open them with ``app.open_screen(name, **kwargs)``.
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import importlib
import os
import sys
import tempfile
import threading
import traceback
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from textual.app import App

from screens import keys
from screens.backup_job import running_jobs
from screens.commands import ConsoleCommands
from screens.quit_confirm import QuitModal
from themes import THEMES_DIR, register_themes

if TYPE_CHECKING:
    from textual.screen import Screen

    from console.config import Settings
    from console.probes import ProbeResult

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
    "fleet": "screens.fleet:FleetScreen",
    # --- add screens here: "name": "module:Class" (open with app.open_screen("name", **kwargs)) ---
}

Clock = Callable[[], datetime]
Prober = Callable[..., "list[ProbeResult]"]


_ROUNDS = [0]


def _default_prober(settings: Settings, names: list[str] | None = None,
                    on_result: Callable[[ProbeResult], None] | None = None) -> list[ProbeResult]:
    from console.probes import probe_all

    _ROUNDS[0] += 1
    if _ROUNDS[0] == 2:  # the first round imported psycopg, redis, requests and the catalog's code, for good:
        gc.freeze()  # the collector's full passes (on the UI thread too) need not walk them again
    return probe_all(settings, names, on_result)


class BackupConsoleApp(App[int]):
    """The interactive console. ``clock`` and ``prober`` are injectable so tests can freeze time and output."""

    TITLE = "backup-console"
    CSS_PATH = [THEMES_DIR / "base.tcss", THEMES_DIR / "dashboard.tcss"]
    """The shared look (the help, quit and lines modals any screen opens) and the dashboard, the first
    screen: parsed before the first frame. Every other screen names its own stylesheet in its CSS_PATH,
    which Textual reads when that screen is first pushed: parsing all eleven first took 30 ms there, and
    once more when the theme's variables were applied; reading the dashboard's at its push would parse
    everything again. The screens' stylesheets select ids and classes of their own, so the order they
    are read in (the order screens are first opened) does not matter (tests/screens/test_stylesheets.py)."""
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    BINDINGS = [
        keys.bind("quit", "quit", id="quit"),
        keys.bind("help", "help", id="help"),
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
        self.crash_log: Path | None = None
        self.crash_message: str | None = None
        if os.environ.get("NO_COLOR"):  # themes/base.tcss then marks focus and selection by shape
            self.add_class("-no-color")
        self._theme_problems = register_themes(self)
        self._start_with_theme(self.settings.ui.theme)

    def on_mount(self) -> None:
        for problem in self._theme_problems:
            self.notify(problem, title="theme", severity="warning")
        if self.settings.ui.keymap:
            self.set_keymap(self.settings.ui.keymap)
        if self.settings.read_only:
            self.sub_title = "READ-ONLY"
        name, kwargs = self._start
        if name != "dashboard":
            self.open_screen(name, **kwargs)

    def get_default_screen(self) -> Screen:
        """The dashboard, as the bottom of the screen stack: every other screen opens over it, and none
        is drawn first (Textual's blank default screen under it was composed, styled and then replaced
        before the dashboard's first frame, and `back` could reveal it)."""
        name, kwargs = self._start
        return self.screen_class("dashboard")(**(kwargs if name == "dashboard" else {}))

    def _start_with_theme(self, name: str) -> None:
        """Draw the first frame with theme ``name`` (if registered), parsing the stylesheets once.

        Setting ``App.theme`` queues a re-parse of every stylesheet for its variables (set in on_mount,
        after the first parse; set here, before it, and the first frame's own parse then does the work
        once more: bench/README.md, "Start-up"). Nothing is drawn yet, so the theme need only be in place
        when the stylesheets are first parsed: its name, the class its watcher gives the app, and its
        variables in the stylesheet. A theme that changes dark or ANSI mode also changes Textual's colour
        filter, which only its watcher sets: that one is set as usual.
        """
        theme = self.available_themes.get(name)
        if theme is None:
            return  # Textual's default stays (a theme file that failed is notified in on_mount)
        current = self.current_theme
        if (theme.dark, theme.ansi) != (current.dark, current.ansi):
            self.theme = name
            return
        self.set_reactive(App.theme, name)
        self.add_class(f"-theme-{name}")
        self.stylesheet.set_variables(self.get_css_variables())

    def screen_class(self, name: str) -> type:
        module_name, _, class_name = SCREEN_FACTORIES[name].partition(":")
        return getattr(importlib.import_module(module_name), class_name)

    def open_screen(self, name: str, /, **kwargs: Any) -> None:
        self.push_screen(self.screen_class(name)(**kwargs))

    def action_open(self, name: str) -> None:
        """Palette and bindings open screens by name: ``app.open('backup')``."""
        self.open_screen(name)

    # --- quitting ---------------------------------------------------------------------------------

    WRITING_GROUPS = ("reports-verify", "drill-verify", "retention-apply")
    """Workers that write (a backup, metadata, deletions): quitting waits for them to end."""

    def _running_work(self) -> tuple[list[Any], list[Any], list[str]]:
        """(backup jobs, drills being recorded, descriptions) of what quitting would stop."""
        jobs = running_jobs(self)
        drills = [screen.drill for screen in self.screen_stack
                  if getattr(screen, "recording", False) and getattr(screen, "drill", None) is not None]
        lines = []
        for job in jobs:
            what = job.request.label.replace("/", " ")
            lines.append(f"a {what} backup is running: it is cancelled, its partial files removed")
        for drill in drills:
            lines.append(f"drill '{drill.name}' is not ended: its transcript is written as INCOMPLETE")
        others = [worker for worker in self.workers if worker.group in self.WRITING_GROUPS and worker.is_running]
        for worker in others:
            lines.append(f"{worker.description or worker.group} is running: quitting waits for it")
        return jobs, drills, lines

    async def action_quit(self) -> None:
        """Quit at once when nothing runs; otherwise ask, then stop it (never wait on the UI thread)."""
        jobs, drills, lines = self._running_work()
        if not lines:
            self.exit()
            return

        if isinstance(self.screen, QuitModal):
            return

        def answer(stop: bool | None) -> None:
            if not stop:
                return
            for drill in drills:
                drill.interrupt("the operator quit the console during the drill")
            for job in jobs:
                job.cancel.cancel()
            if jobs or self._running_work()[2]:
                self.notify("stopping: cancelling the backup and removing its partial files ...",
                            title="quit", timeout=30)
            self._exit_when_idle()

        self.push_screen(QuitModal(lines), answer)

    def _exit_when_idle(self) -> None:
        """Exit once every backup job and writing worker has ended; check again in 0.2 s."""
        jobs, _, lines = self._running_work()
        if jobs or lines:
            self.set_timer(0.2, self._exit_when_idle)
            return
        self.exit()

    def _fatal_error(self) -> None:
        """An unhandled error: the traceback goes to a file, the terminal gets one line naming it.

        Textual's own report prints the traceback with local variables, and settings hold
        passwords: the full traceback, without locals, goes to the state directory instead, and
        ``run_app`` returns 1.
        """
        error = self._exception
        self.crash_log = write_crash_log(error) if error is not None else None
        what = f"{type(error).__name__}: {error}" if error is not None else "unknown error"
        where = f"full traceback in {self.crash_log}" if self.crash_log else "the traceback could not be written"
        # run_app prints it once the terminal is restored: plain text, so the path is never wrapped
        self.crash_message = f"backup-console: internal error: {what}\n{where}"
        self.bell()
        self._close_messages_no_wait()

    def action_help(self) -> None:
        from screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))


def state_dir() -> Path:
    """Where the console keeps files of its own (crash logs): $XDG_STATE_HOME/backup-console."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "backup-console"


def write_crash_log(error: BaseException) -> Path | None:
    """Write ``error``'s traceback to a new file in the state directory (never the working directory)."""
    text = "".join(traceback.format_exception(error))
    stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
    for directory in (state_dir(), Path(tempfile.gettempdir())):
        try:
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / f"crash-{stamp}-{os.getpid()}.log"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            return path
        except OSError:
            continue
    return None


def run_app(settings: Settings, start_screen: str = "dashboard", **start_kwargs: Any) -> int:
    """Run the console; 0 after a normal quit, 1 after an internal error (Textual's return code).

    Leaves without waiting for probe threads: a probe of a hanging service holds its thread for up
    to its timeout, and asyncio.run would wait for it with the terminal already restored (a blank
    screen). A backup still running (the app ended by a signal or an error, not by the quit
    dialog) is cancelled and waited for, so its partial files are removed.
    """
    app = BackupConsoleApp(settings, start_screen=start_screen, start_kwargs=start_kwargs)
    loop = asyncio.new_event_loop()
    returned = app.run(loop=loop)  # run_until_complete: no wait for the executor's threads here
    code = app.return_code or returned or 0
    if app.crash_message:
        print(app.crash_message, file=sys.stderr)
    jobs = running_jobs(app)
    if jobs:
        print("backup-console: cancelling the running backup and removing its partial files ...", file=sys.stderr)
        for job in jobs:
            job.cancel.cancel()
        while running_jobs(app):
            threading.Event().wait(0.1)
    if threading.active_count() > 1:  # only read-only probe threads are left: do not wait for them
        # os._exit skips atexit: run its handlers (a drill not ended is stamped incomplete there);
        # the interpreter's join of executor threads is not one of them.
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    loop.close()
    return code
