"""DrillScreen: an incident drill: a visible timer, the checklists, the backup and a verification, all stamped.

It is the checklist screen with a drill record (console.drill.Drill) listening to what happens:
each check result, tick, note, override, backup and verification becomes a step with start, end,
outcome, evidence and who (the current driver, ``w`` passes the keyboard on). The record and its
Markdown transcript are rewritten after every step; ``e`` ends the drill. Leaving the screen, a
signal (SIGTERM, SIGHUP when the terminal closes) or quitting first leaves the transcript marked
incomplete.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import TYPE_CHECKING

from textual import on, work
from textual.message import Message
from textual.widgets import Static
from textual.worker import WorkerState

from console.drill import Drill, DrillStep, duration_text, outcome_of, signals_end_drills
from console.verify.run import verify
from screens import keys
from screens.checklist import ChecklistBackupFinished, ChecklistBackupStarted, ChecklistScreen
from screens.widgets.checklist_view import (ChecklistItemChecked, ChecklistItemTicked, ChecklistNoteAdded,
                                            ChecklistView, GateOverridden)
from themes import THEMES_DIR

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from console.kinds.base import BackupRequest, BackupResult
    from screens.checklist import Evaluator



class DrillVerified(Message):
    def __init__(self, outcome: str, evidence: str) -> None:
        super().__init__()
        self.outcome = outcome
        self.evidence = evidence


class DrillScreen(ChecklistScreen):
    CSS_PATH = [THEMES_DIR / "checklist.tcss", THEMES_DIR / "drill.tcss"]

    HELP = ChecklistScreen.HELP + """
## Drill mode
The bar on top shows the drill's name, the time since it started, who drives (`w` passes the
keyboard to the next participant) and how many steps were stamped. Every check result, tick,
note, override, backup (`b`, or `o` with a reason) and verification (`v`, after a backup) is a step
in BACKUP_DIR/drills/drill_<ts>.json and its Markdown transcript, written as it happens.
`e` ends the drill (escape is refused until then); quitting or a closed terminal marks the
transcript incomplete.
"""

    BINDINGS = [
        keys.bind("next-driver", "next_driver", id="next-driver", tooltip="Pass the keyboard to the next participant"),
        keys.bind("verify", "verify", id="verify-backup", tooltip="Verify the backup made in this drill"),
        keys.bind("end-drill", "end_drill", id="end-drill", tooltip="End the drill and write the transcript"),
        keys.bind("back", "back", id="back", show=False),
    ]

    def __init__(self, services: list[str] | None = None, drill_name: str = "", participants: list[str] | None = None,
                 service: str | None = None, evaluator: Evaluator | None = None) -> None:
        super().__init__(service=service, services=services, evaluator=evaluator)
        self.drill_name = drill_name
        self.participant_names = participants or []
        self.drill: Drill | None = None
        self.driver_index = 0
        self.backup_step: DrillStep | None = None
        self.verify_step: DrillStep | None = None
        self.last_backup: BackupResult | None = None
        self._check_started: dict[str, float] = {}
        self._signals = ExitStack()

    def screen_title(self) -> str:
        return f"Drill: {self.drill.name}" if self.drill else "Drill"

    def compose_top(self) -> ComposeResult:
        yield Static(id="drill-bar", markup=False)

    def on_mount(self) -> None:  # runs before ChecklistScreen.on_mount starts the checks
        app = self.app
        names = list(self.checklists)
        default_name = f"{names[0]} drill" if len(names) == 1 else "incident drill"
        try:
            self.drill = Drill(app.settings.backup_dir, self.drill_name or default_name,  # type: ignore[attr-defined]
                               self.participant_names, names, clock=lambda: app.clock().timestamp())  # type: ignore[attr-defined]
        except OSError as exc:
            self.notify(f"cannot write the drill record under {app.settings.backup_dir}: {exc.strerror or exc}",  # type: ignore[attr-defined]
                        title="drill not recorded", severity="error", timeout=30)
            return
        self._signals.enter_context(signals_end_drills(lambda signum: self.app.exit(128 + signum)))
        self.set_interval(1.0, self.update_bar)
        self.update_bar()

    def on_unmount(self) -> None:
        if self.drill is not None:
            self.drill.interrupt("the drill screen was closed before the drill was ended")
        self._signals.close()

    def who(self) -> str:
        if self.drill is None:
            return super().who()
        return self.drill.participants[self.driver_index]

    @property
    def recording(self) -> bool:
        return self.drill is not None and self.drill.ended is None

    def update_bar(self) -> None:
        drill = self.drill
        if drill is None:
            return
        bar = self.query_one("#drill-bar", Static)
        steps = len(drill.steps)
        failed = sum(step.outcome in ("fail", "cancelled") for step in drill.steps)
        if drill.ended is not None:
            text = (f"DRILL ENDED {drill.result.upper()} after {duration_text(drill.ended - drill.started)}"
                    f" | {steps} steps, {failed} failed | {drill.markdown_path.name}")
        else:
            elapsed = duration_text(self.app.clock().timestamp() - drill.started)  # type: ignore[attr-defined]
            text = f"DRILL {elapsed} | {drill.name} | driver {self.who()} | {steps} steps, {failed} failed"
        bar.update(text)
        bar.set_class(drill.ended is not None, "-ended")
        bar.set_class(failed > 0, "-failed")

    # --- stamping what happens ----------------------------------------------------------------

    def run_checks(self, view: ChecklistView) -> None:
        if self.drill is not None:
            now = self.drill.clock()
            for item in view.checklist.automated:
                self._check_started.setdefault(f"{view.service}.{item.id}", now)
        super().run_checks(view)

    def _title(self, service: str, item_id: str) -> str:
        return f"{service}: {self.checklists[service].item(item_id).title}"

    @on(ChecklistItemChecked)
    def _stamp_check(self, message: ChecklistItemChecked) -> None:
        if not self.recording:
            return
        key = f"{message.service}.{message.result.item_id}"
        self.drill.record(self._title(message.service, message.result.item_id), "check",  # type: ignore[union-attr]
                          outcome_of(message.result.state.value), message.result.evidence, who=self.who(),
                          item=key, started=self._check_started.pop(key, None))
        self.update_bar()

    @on(ChecklistItemTicked)
    def _stamp_tick(self, message: ChecklistItemTicked) -> None:
        if self.recording:
            ticked = message.status.state.value == "ok"
            self.drill.record(self._title(message.service, message.status.item.id), "manual",  # type: ignore[union-attr]
                              "ok" if ticked else "skipped", f"{'ticked' if ticked else 'unticked'} by {message.who}",
                              who=message.who, item=f"{message.service}.{message.status.item.id}")
            self.update_bar()

    @on(ChecklistNoteAdded)
    def _stamp_note(self, message: ChecklistNoteAdded) -> None:
        if self.recording:
            self.drill.add_note(message.text, who=message.who,  # type: ignore[union-attr]
                                item=f"{message.service}.{message.status.item.id}")

    @on(GateOverridden)
    def _stamp_override(self, message: GateOverridden) -> None:
        if self.recording:
            self.drill.record(f"gate override: {message.service}", "override", "override",  # type: ignore[union-attr]
                              message.force_reason, who=message.who)
            self.update_bar()

    def launch_backup(self, request: BackupRequest) -> None:
        self.run_backup(request)  # in a drill the backup runs here, so its step is stamped

    @on(ChecklistBackupStarted)
    def _stamp_backup_start(self, message: ChecklistBackupStarted) -> None:
        if self.recording:
            what = f"backup {message.request.kind}" + (f" {message.request.target}" if message.request.target else "")
            self.backup_step = self.drill.start_step(what, "backup", who=self.who())  # type: ignore[union-attr]
            self.update_bar()

    @on(ChecklistBackupFinished)
    def _stamp_backup_end(self, message: ChecklistBackupFinished) -> None:
        result = message.result
        self.last_backup = result
        if self.recording and self.backup_step is not None:
            evidence = result.message + (f" (set {result.set_id})" if result.set_id else "")
            self.drill.end_step(self.backup_step, outcome_of(result.status), evidence)  # type: ignore[union-attr]
            self.backup_step = None
            self.update_bar()
        self.refresh_bindings()

    # --- verification, driver, end --------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "verify":
            ok = self.last_backup is not None and self.last_backup.ok and self.verify_step is None
            return True if ok and self.recording else None
        if action in ("start_backup", "override") and not self.recording:
            return False
        if action in ("end_drill", "next_driver"):
            return True if self.recording else None
        return super().check_action(action, parameters)

    def action_verify(self) -> None:
        if self.last_backup is None or not self.last_backup.set_id or not self.recording:
            return
        self.verify_step = self.drill.start_step(f"verify {self.last_backup.set_id}", "verify",  # type: ignore[union-attr]
                                                 who=self.who())
        self.refresh_bindings()
        self._verify_worker(self.last_backup.kind, self.last_backup.set_id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="drill-verify")
    def _verify_worker(self, kind: str, set_id: str) -> None:
        report = verify(self.app.settings, kind=kind, set_id=set_id)  # type: ignore[attr-defined]
        counts = report.counts
        self.post_message(DrillVerified(outcome_of(report.status),
                                        f"{report.status}: {counts['passed']} checks passed, {counts['failed']} failed, "
                                        f"{counts['warning']} warnings (report {report.report_name})"))

    @on(DrillVerified)
    def _stamp_verify(self, message: DrillVerified) -> None:
        if self.verify_step is not None and self.recording:
            self.drill.end_step(self.verify_step, message.outcome, message.evidence)  # type: ignore[union-attr]
        self.update_bar()
        self.notify(message.evidence, title="verification", severity="information" if message.outcome == "ok" else "error")

    def on_worker_state_changed(self, event) -> None:  # noqa: ANN001 - Worker.StateChanged
        if event.worker.group == "drill-verify" and event.state is WorkerState.ERROR and self.verify_step is not None:
            self.post_message(DrillVerified("fail", f"verification could not run: {event.worker.error}"))

    def action_back(self) -> None:
        if self.recording:  # leaving would cut the drill short: only `e` ends it on purpose
            self.notify("the drill is running: e ends it (leaving now would mark it incomplete)", severity="warning")
            return
        super().action_back()

    def action_next_driver(self) -> None:
        if self.drill is not None:
            self.driver_index = (self.driver_index + 1) % len(self.drill.participants)
            self.update_bar()
            self.notify(f"{self.who()} drives now")

    def action_end_drill(self) -> None:
        if self.drill is None or not self.recording:
            return
        self.drill.finish()
        self.update_bar()
        self.refresh_bindings()
        self.notify(f"transcript: {self.drill.markdown_path}", title=f"drill ended: {self.drill.result.upper()}")
