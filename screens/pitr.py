"""PitrScreen: the PostgreSQL recovery window as a timeline, a target typed by the operator, a
pre-flight that shows its evidence (base backup, WAL chain, destination), then a restore to that
moment run in a worker with progress, and what to do next."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from console.errors import ConsoleError
from console.instances import DEFAULT
from console.pitr.describe import window_summary
from console.pitr.plan import plan_restore
from console.pitr.targets import parse_target
from console.pitr.window import pitr_status
from screens import keys
from screens.widgets.key_line import KeyLine
from screens.widgets.recovery_timeline import RecoveryTimeline
from screens.widgets.text_bar import TextBar
from screens.widgets.title_line import TitleLine
from themes import THEMES_DIR

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from console.progress import ProgressEvent

STATE_CLASSES = ("-ok", "-warn", "-error", "-busy")


class WindowLoaded(Message):
    def __init__(self, status: Any) -> None:
        super().__init__()
        self.status = status


class PlanChecked(Message):
    def __init__(self, plan: Any, problem: str | None) -> None:
        super().__init__()
        self.plan = plan
        self.problem = problem


class RestoreProgressed(Message):
    def __init__(self, event: ProgressEvent) -> None:
        super().__init__()
        self.event = event


class RestoreFinished(Message):
    def __init__(self, outcome: Any) -> None:
        super().__init__()
        self.outcome = outcome


def parse_typed_target(text: str) -> tuple[str | None, str | None, str | None]:
    """``name:X`` and ``lsn:0/3000028`` pick those targets; anything else is a time."""
    cleaned = text.strip()
    if cleaned.startswith("name:"):
        return None, None, cleaned[5:].strip()
    if cleaned.startswith("lsn:"):
        return None, cleaned[4:].strip(), None
    return cleaned or None, None, None


class PitrScreen(Screen[None]):
    CSS_PATH = THEMES_DIR / "pitr.tcss"

    HELP = """\
## Point-in-time recovery
The line shows the recovery window: from the end of the oldest usable base backup (B) to the last
archived commit; R marks restore points, X a missing WAL segment. Type a target - a time
(`2026-12-07 01:40`, local, or with `Z`/an offset), `name:<restore point>` or `lsn:0/3000028` - and a
new directory, then press enter: the pre-flight shows which base backup and WAL it would use, or
why the target is refused. `ctrl+r` restores into that directory and starts the copy on a free
port; the live cluster is never touched. `r` reloads the window; escape goes back.
"""

    BINDINGS = [
        keys.bind("back", "app.pop_screen", id="back"),
        keys.bind("refresh", "reload", "Reload", id="reload-window", tooltip="Read the archive and base backups again"),
        keys.bind("restore", "run_restore", id="run-pitr-restore",
                  tooltip="Restore to the checked target into the new directory and start it"),
    ]

    def __init__(self, instance: str = DEFAULT) -> None:
        super().__init__()
        self.instance = instance
        """The PostgreSQL instance whose base backups and WAL archive the screen shows."""
        self.plan: Any = None
        self.running = False
        self._last_progress = 0.0

    def compose(self) -> ComposeResult:
        yield TitleLine()
        yield Static("reading the WAL archive...", id="pitr-summary", classes="pitr-state -busy",
                     markup=False)
        yield RecoveryTimeline("", id="pitr-timeline", markup=False)
        with Horizontal(id="pitr-inputs"):
            yield Input(placeholder="target: 2026-12-07 01:40 | name:X | lsn:0/3000028", id="pitr-target")
            yield Input(placeholder="new data directory", id="pitr-to")
        yield Static("type a target and a directory, then enter", id="pitr-preflight",
                     classes="pitr-state", markup=False)
        yield TextBar(id="pitr-progress")
        yield Static("", id="pitr-result", classes="pitr-state", markup=False)
        yield KeyLine()

    def on_mount(self) -> None:
        self.sub_title = "PostgreSQL point-in-time recovery" + ("" if self.instance == DEFAULT else f" - {self.instance}")
        self.query_one("#pitr-to", Input).value = f"/var/tmp/pitr-{self.app.clock():%Y%m%d_%H%M%S}"  # type: ignore[attr-defined]
        self.query_one("#pitr-target", Input).focus()
        self.action_reload()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "run_restore":
            return None if (self.plan is None or self.running or self.app.settings.read_only) else True  # type: ignore[attr-defined]
        return True

    def action_reload(self) -> None:
        self._state("#pitr-summary", "reading the WAL archive...", "-busy")
        self._load_window()

    @work(thread=True, exclusive=True, group="pitr-window", exit_on_error=False)
    def _load_window(self) -> None:

        settings = self._settings()
        if not settings.postgres.wal_archive_dir:
            self.post_message(WindowLoaded(None))
            return
        self.post_message(WindowLoaded(pitr_status(settings.root, Path(settings.postgres.wal_archive_dir),
                                                   settings.postgres.bin_dir)))

    @on(WindowLoaded)
    def _window_loaded(self, message: WindowLoaded) -> None:
        if message.status is None:
            self._state("#pitr-summary", "no WAL archive configured (postgres.wal_archive_dir)", "-warn")
            return
        now = self.app.clock().timestamp()  # type: ignore[attr-defined]
        summary = window_summary(message.status, now=now)
        problems = message.status.problems
        self._state("#pitr-summary", summary + (f" PROBLEM: {problems[0]}" if problems else ""),
                    "-ok" if summary.startswith("recoverable") and not problems else "-warn")
        self.query_one(RecoveryTimeline).show(message.status)

    @on(Input.Submitted)
    def _check(self) -> None:
        self.plan = None
        self.refresh_bindings()
        self._state("#pitr-preflight", "checking the target against the window...", "-busy")
        self._plan(self.query_one("#pitr-target", Input).value, self.query_one("#pitr-to", Input).value)

    @work(thread=True, exclusive=True, group="pitr-plan", exit_on_error=False)
    def _plan(self, typed: str, to: str) -> None:
        from console.pitr.restore import RestoreOptions, check_destination

        settings = self._settings()
        try:
            target = parse_target(*parse_typed_target(typed))
            if not to.strip():
                raise ConsoleError("type a new data directory")
            check_destination(RestoreOptions(Path(to).absolute()))
            plan = plan_restore(settings.root, Path(settings.postgres.wal_archive_dir), target,
                                bin_dir=settings.postgres.bin_dir)
        except ConsoleError as exc:
            self.post_message(PlanChecked(None, exc.message))
            return
        self.post_message(PlanChecked(plan, None))

    @on(PlanChecked)
    def _plan_checked(self, message: PlanChecked) -> None:
        self.plan = message.plan
        self.refresh_bindings()
        if message.plan is None:
            self._state("#pitr-preflight", f"REFUSED: {message.problem}", "-error")
            return
        plan = message.plan
        lines = [f"PASS target {plan.target.describe()} lies in the window",
                 f"PASS base backup {plan.base.set_id} ends {plan.base.stop_time.isoformat(timespec='seconds')}",
                 f"PASS WAL {plan.base.metadata.get('start_wal_file')} .. "
                 f"{plan.chain.last_segment.name(plan.segment_size)} archived, timeline {plan.timeline}",
                 "PASS destination is new or empty; ctrl+r restores and starts it on a free port"]
        self._state("#pitr-preflight", "\n".join(lines), "-ok")

    def action_run_restore(self) -> None:
        if self.plan is None or self.running:
            return
        self.running = True
        self.refresh_bindings()
        self._state("#pitr-result", "restoring...", "-busy")
        self._restore(self.plan, self.query_one("#pitr-to", Input).value)

    @work(thread=True, exclusive=True, group="pitr-restore", exit_on_error=False)
    def _restore(self, plan: Any, to: str) -> None:
        from console.pitr.restore import RestoreOptions, restore_to_target

        settings = self._settings()
        program = str(Path(shutil.which("backup-console") or "backup-console").absolute())
        program = getattr(self.app, "pitr_program", None) or program
        options = RestoreOptions(Path(to).absolute(), start=True, program=program, wait_seconds=3600)
        outcome = restore_to_target(plan, options, settings.postgres, on_progress=self._progress_from_worker)
        self.post_message(RestoreFinished(outcome))

    def _settings(self) -> Any:
        """The app's settings as the chosen instance sees them (its server, base backups and archive)."""
        settings = self.app.settings  # type: ignore[attr-defined]
        return settings if self.instance == DEFAULT else settings.for_instance("postgres", self.instance)

    def _progress_from_worker(self, event: ProgressEvent) -> None:
        now = time.monotonic()
        if event.finished or event.message or now - self._last_progress > 0.15:
            self._last_progress = now
            self.post_message(RestoreProgressed(event))

    @on(RestoreProgressed)
    def _progressed(self, message: RestoreProgressed) -> None:
        event = message.event
        bar = self.query_one(TextBar)
        bar.display = True
        bar.update(total=event.total or None, progress=event.done)
        what = "bytes restored" if event.phase == "extract" else "WAL replayed towards the target"
        self._state("#pitr-result", f"{event.phase}: {what}" + (f" - {event.message}" if event.message else ""),
                    "-busy")

    @on(RestoreFinished)
    def _finished(self, message: RestoreFinished) -> None:
        outcome = message.outcome
        self.running = False
        self.refresh_bindings()
        self._state("#pitr-result", f"DONE: {outcome.stop_message or 'target reached'}\n"
                                    f"running on port {outcome.port}: psql \"{outcome.connection}\"\n"
                                    f"check the data, then stop it: pg_ctl -D {outcome.data_dir} stop", "-ok")

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            self.running = False
            self.refresh_bindings()
            self._state("#pitr-result", f"FAILED: {event.worker.error}", "-error")

    def _state(self, selector: str, text: str, state_class: str) -> None:
        widget = self.query_one(selector, Static)
        widget.update(text)
        widget.remove_class(*STATE_CLASSES)
        widget.add_class(state_class)
