"""ChecklistScreen: walk the pre-backup checklists from the keyboard, then start the backup through the gate.

One list per service (tab / shift+tab / number keys switch). Automated items run in workers when
a list is first shown and on ``r``; space ticks a manual item, ``n`` attaches a note, enter shows
why the item matters and what to do. ``b`` starts the backup only when the gate is open; ``o``
overrides a closed gate with a typed reason, recorded as the run's force_reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from textual import on, work
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import ContentSwitcher, ListView, Static, Tab, Tabs
from textual.worker import Worker, WorkerState

from console.checklists import ItemResult, backup_request, evaluate_items, load_checklists, override_reason
from console.drill import default_participant
from console.errors import ConsoleError, one_line
from console.formatting import size
from console.kinds.base import BackupResult
from console.preflight import CheckContext
from console.progress import ProgressEvent
from console.status import Status
from screens import keys
from screens.backup_job import start_job
from screens.text_prompt import TextPromptModal
from screens.widgets.checklist_view import (ChecklistItemChecked, ChecklistItemTicked, ChecklistNoteAdded,
                                            ChecklistView, GateOverridden)
from screens.widgets.key_line import KeyLine
from screens.widgets.title_line import TitleLine
from themes import THEMES_DIR

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from console.checklists import Checklist, ChecklistItem
    from console.kinds.base import BackupRequest
    from screens.backup_job import BackupJob

Evaluator = Callable[["ChecklistItem", "CheckContext"], ItemResult]


class ChecklistBackupStarted(Message):
    def __init__(self, request: BackupRequest) -> None:
        super().__init__()
        self.request = request


class ChecklistBackupProgressed(Message):
    def __init__(self, event: ProgressEvent) -> None:
        super().__init__()
        self.event = event


class ChecklistBackupFinished(Message):
    def __init__(self, request: BackupRequest, result: BackupResult) -> None:
        super().__init__()
        self.request = request
        self.result = result


class ChecklistScreen(Screen[None]):
    CSS_PATH = THEMES_DIR / "checklist.tcss"

    HELP = """\
## Pre-backup checklist
One list per service: tab / shift+tab or the number keys switch. Each item shows its state as
text and colour: `[ OK ]` passed, `[WARN]` passed with a warning, `[FAIL]` failed, `[ .. ]` running,
`[    ]` not done yet. The second line is the evidence.

Automated items run when a list opens; `r` runs them again. Manual items need a person: space
ticks (or unticks) the highlighted one. `n` attaches a note, enter shows why the item matters
and what to do when it fails.

`u` adds an upload to S3 (and checks S3 connectivity, skipped otherwise).

The gate opens when every required item passes; then `b` opens the backup screen for this
service (`b` there starts it). With the gate closed, `o` does the same after you type a reason:
it is recorded in the backup's metadata and in the run log.
"""

    BINDINGS = [
        Binding("tab", "switch(1)", "Next list", id="next-checklist", tooltip="Show the next service's checklist",
                show=False),
        Binding("shift+tab", "switch(-1)", "Previous list", id="previous-checklist", show=False),
        *[Binding(str(n), f"switch_to({n - 1})", f"List {n}", id=f"checklist-{n}", show=False) for n in range(1, 10)],
        keys.bind("refresh", "run_checks", "Re-check", id="run-checks", tooltip="Run the automated items again"),
        keys.bind("tick", "tick", id="tick-item", tooltip="Tick or untick the highlighted manual item"),
        keys.bind("note", "note", id="add-note", tooltip="Attach a note to the highlighted item"),
        keys.bind("upload", "toggle_upload", id="toggle-upload", tooltip="Also copy the backup to S3 (re-checks S3)",
                show=False),
        keys.bind("backup", "start_backup", id="start-backup", tooltip="Start the backup (gate open)"),
        keys.bind("override", "override", id="override-gate", tooltip="Start the backup anyway, with a reason"),
        keys.bind("back", "back", id="back", show=False),
    ]

    def __init__(self, service: str | None = None, services: list[str] | None = None,
                 evaluator: Evaluator | None = None) -> None:
        super().__init__()
        self.first_service = service
        self.wanted_services = services
        self.evaluator = evaluator or _live_evaluator
        self.checklists: dict[str, Checklist] = {}
        self.load_error: str | None = None
        self.backup_running = False
        self.upload = False
        self.backup_line = ""

    # --- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield TitleLine()
        yield from self.compose_top()
        try:
            loaded = load_checklists(self.app.settings)  # type: ignore[attr-defined]
        except ConsoleError as exc:
            self.load_error = exc.message
            yield Static(f"cannot load the checklists: {exc.message}", id="checklist-error", markup=False)
            yield KeyLine()
            return
        names = self.wanted_services or list(loaded)
        self.checklists = {name: loaded[name] for name in names if name in loaded}
        yield Tabs(*[Tab(f"{n} {name}", id=f"tab-{name}") for n, name in enumerate(self.checklists, 1)],
                   id="checklist-tabs")
        yield Static(id="gate-line", markup=False)
        first = self.first_service if self.first_service in self.checklists else next(iter(self.checklists), None)
        with ContentSwitcher(initial=f"checklist-{first}" if first else None, id="checklist-switcher"):
            for checklist in self.checklists.values():
                yield ChecklistView(checklist)
        yield KeyLine()

    def screen_title(self) -> str:
        return "Pre-backup checklist"

    def compose_top(self) -> ComposeResult:
        """Extra widgets above the tabs (the drill screen's timer)."""
        return iter(())

    def on_mount(self) -> None:
        self.title = self.screen_title()
        if not self.checklists:
            return
        tabs = self.query_one(Tabs)
        tabs.can_focus = False
        self.show_service(self.first_service if self.first_service in self.checklists else next(iter(self.checklists)))

    @property
    def view(self) -> ChecklistView | None:
        if not self.checklists:
            return None
        current = self.query_one(ContentSwitcher).current
        return self.query_one(f"#{current}", ChecklistView) if current else None

    def show_service(self, service: str) -> None:
        self.query_one(ContentSwitcher).current = f"checklist-{service}"
        self.query_one(Tabs).active = f"tab-{service}"
        view = self.query_one(f"#checklist-{service}", ChecklistView)
        view.focus()
        if view.index is None and view.children:
            view.index = 0
        self.sub_title = view.checklist.title
        if not view.checked_once:
            view.checked_once = True
            self.run_checks(view)
        self.update_gate()
        self.refresh_bindings()

    @on(Tabs.TabActivated)
    def _tab_clicked(self, event: Tabs.TabActivated) -> None:
        if event.tab is None or event.tab.id != event.tabs.active:
            # Stale: the tab active when it was posted is no longer. Tabs activates its first tab when
            # mounted while show_service already set another; following both events flipped the
            # screen between the two services for ever (each switch queued the next).
            return
        service = event.tab.id.removeprefix("tab-") if event.tab.id else None
        if service and self.view and service != self.view.service:
            self.show_service(service)

    def action_switch(self, step: int) -> None:
        if self.view is not None:
            names = list(self.checklists)
            self.show_service(names[(names.index(self.view.service) + step) % len(names)])

    def action_switch_to(self, index: int) -> None:
        names = list(self.checklists)
        if index < len(names):
            self.show_service(names[index])

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()

    # --- automated items ----------------------------------------------------------------------

    def action_run_checks(self) -> None:
        if self.view is not None:
            self.run_checks(self.view)

    def run_checks(self, view: ChecklistView) -> None:
        settings = self.app.settings  # type: ignore[attr-defined]
        context = CheckContext(settings, target=self.backup_target(view.checklist), upload=self.upload)
        if not self.backup_running:
            self.backup_line = ""
        for item in view.checklist.automated:
            if view.run[item.id].state is Status.RUNNING:
                continue
            view.run.mark_running(item.id)
            view.redraw_item(item.id)
            self._check_item(view.service, item, context)
        self.update_gate()

    def action_toggle_upload(self) -> None:
        self.upload = not self.upload
        self.notify("the backup will be copied to S3" if self.upload else "the backup stays local (no upload)")
        for view in self.query(ChecklistView):
            view.checked_once = False
        if self.view is not None:
            self.view.checked_once = True
            self.run_checks(self.view)

    @work(thread=True, exit_on_error=False, group="checklist-checks")
    def _check_item(self, service: str, item: ChecklistItem, context: CheckContext) -> None:
        try:
            result = self.evaluator(item, context)
        except Exception as exc:  # a broken check is a failed item, never an item stuck at [ .. ]
            result = ItemResult(item.id, Status.FAIL, f"check error: {type(exc).__name__}: {exc}")
        self.post_message(ChecklistItemChecked(service, result))

    @on(ChecklistItemChecked)
    def _show_result(self, message: ChecklistItemChecked) -> None:
        view = self.query_one(f"#checklist-{message.service}", ChecklistView)
        view.run.apply(message.result)
        view.redraw_item(message.result.item_id)
        self.update_gate()

    # --- manual items and notes ---------------------------------------------------------------

    def who(self) -> str:
        return default_participant()

    def action_tick(self) -> None:
        view = self.view
        status = view.current_status if view else None
        if view is None or status is None:
            return
        if not status.item.manual:
            self.notify(f"'{status.item.title}' is checked automatically (r runs it again)", severity="warning")
            return
        view.run.toggle_tick(status.item.id, self.who())
        view.redraw_item(status.item.id)
        self.update_gate()
        self.post_message(ChecklistItemTicked(view.service, status, self.who()))

    def action_note(self) -> None:
        view = self.view
        status = view.current_status if view else None
        if view is None or status is None:
            return

        def attach(text: str | None) -> None:
            if text:
                view.run.add_note(status.item.id, text)
                view.redraw_item(status.item.id)
                self.post_message(ChecklistNoteAdded(view.service, status, text, self.who()))

        self.app.push_screen(TextPromptModal("Note", f"Note on: {status.item.title}"), attach)

    @on(ListView.Selected)
    def _open_item(self, event: ListView.Selected) -> None:
        from screens.checklist_item import ChecklistItemModal

        view = self.view
        if view is not None and view.current_status is not None:
            self.app.push_screen(ChecklistItemModal(view.current_status))

    # --- the gate and the backup --------------------------------------------------------------

    def update_gate(self) -> None:
        view = self.view
        if view is None:
            return
        line = self.query_one("#gate-line", Static)
        gate = view.run.gate()
        running = sum(status.state is Status.RUNNING for status in view.run.statuses.values())
        if self.backup_line:
            text = self.backup_line
        elif running:
            text = f"checking: {running} item(s) running"
        elif gate.open:
            text = "GATE OPEN: every required item passes" + (" - b starts the backup" if view.checklist.backup else "")
            text += " (+ S3 upload)" if self.upload and view.checklist.backup else ""
        else:
            names = ", ".join(status.item.id for status in gate.blocking)
            text = f"GATE CLOSED: {len(gate.blocking)} required not passed ({names})"
            if view.checklist.backup:
                text += " - o overrides"
        line.update(text)
        line.set_class(gate.open, "-open")
        line.set_class(not gate.open, "-closed")
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        view = self.view
        if action in ("start_backup", "override"):
            if view is None or view.checklist.backup is None or self.backup_running:
                return None if action == "start_backup" else False
            gate_open = view.run.gate().open
            if action == "start_backup":
                return True if gate_open else None  # shown greyed out while the gate is closed
            return not gate_open
        return True

    def backup_target(self, checklist: Checklist) -> str | None:
        if checklist.backup == "postgres":
            return self.app.settings.postgres.database  # type: ignore[attr-defined]
        return None

    def action_start_backup(self) -> None:
        view = self.view
        if view is not None and view.run.gate().open:
            self.launch_backup(backup_request(view.checklist, view.run.gate(), target=self.backup_target(view.checklist),
                                              upload=self.upload))

    def action_override(self) -> None:
        view = self.view
        if view is None:
            return
        gate = view.run.gate()
        blocking = [f"{status.state.mark} {status.item.title}" for status in gate.blocking]

        def start(reason: str | None) -> None:
            if not reason:
                return
            self.post_message(GateOverridden(view.service, reason, override_reason(gate, reason) or "", self.who()))
            self.launch_backup(backup_request(view.checklist, gate, reason, target=self.backup_target(view.checklist),
                                              upload=self.upload))

        self.app.push_screen(TextPromptModal(
            "Override the gate", "Why start the backup anyway? (recorded with the run)",
            ["These required items do not pass:", *blocking]), start)

    def launch_backup(self, request: BackupRequest) -> None:
        """Open the backup screen; a backup with an upload (which that screen does not offer) runs here."""
        if request.upload:
            self.run_backup(request)
            return
        self.app.push_screen(self.app.screen_class("backup")(  # type: ignore[attr-defined]
            kind=request.kind, target=request.target, force_reason=request.force_reason))

    def run_backup(self, request: BackupRequest) -> None:
        """Run the backup as the backup screen does (an app-level job), and follow it from here."""
        self.backup_running = True
        self.backup_line = f"backup {request.kind}: starting"
        self.update_gate()
        self.post_message(ChecklistBackupStarted(request))
        job = start_job(self.app, self.app.settings, request)  # type: ignore[attr-defined]
        self._follow_job(job, None)

    def _follow_job(self, job: BackupJob, shown: tuple[str, int] | None) -> None:
        """Poll the job a few times a second (it records engine events in its thread): a line while it runs,
        ChecklistBackupFinished once it ends."""
        if job.running:
            phase = job.current_phase
            if phase is not None and (phase.name, phase.done) != shown:
                shown = (phase.name, phase.done)
                self.post_message(ChecklistBackupProgressed(ProgressEvent(phase.name, phase.done, phase.total,
                                                                          unit=phase.unit)))
            self.set_timer(0.25, lambda: self._follow_job(job, shown))
            return
        result = job.result or BackupResult(job.request.kind, job.request.target or "", "failed",
                                            job.error or "the backup ended without a result")
        self.post_message(ChecklistBackupFinished(job.request, result))

    @on(ChecklistBackupProgressed)
    def _show_progress(self, message: ChecklistBackupProgressed) -> None:
        event = message.event
        amount = f" {size(event.done)}" if event.unit == "bytes" and event.done else ""
        self.backup_line = f"backup running: {event.phase}{amount}"
        self.update_gate()

    @on(ChecklistBackupFinished)
    def _backup_finished(self, message: ChecklistBackupFinished) -> None:
        result = message.result
        self.backup_running = False
        self.backup_line = f"backup {result.kind} {result.status.upper()}: {result.set_id or result.message}"
        self.update_gate()
        self.notify(f"{result.kind} backup {result.status}: {result.message}",
                    severity="information" if result.ok else "error")

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state is not WorkerState.ERROR:
            return
        self.notify(one_line(event.worker.error), title="checklist", severity="error")


def _live_evaluator(item: ChecklistItem, context: CheckContext) -> ItemResult:
    return evaluate_items([item], context)[0]
