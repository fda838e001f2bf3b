"""BackupScreen: pick a kind (its instance when it has several) and target, see its pre-flight checks,
run it, watch it, read the result.

One screen for every kind of console.kinds.registry: it only uses ``runner.preflight`` and
``runner.execute`` (through screens.backup_job), the kind's ``offered_targets`` for the target
picker and its switch options (the CLI's flags, from the same declaration) as checkboxes. Progress is drawn from the job on a 10 Hz timer,
so a flood of engine events never floods the UI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Checkbox, DataTable, Label, RichLog, Select, Static
from textual.worker import Worker, WorkerState

from console.formatting import duration
from console.instances import DEFAULT
from console.instances import label as instance_label
from console.kinds import registry
from console.preflight import unfixable_by_override
from console.status import Status
from screens import keys
from screens.backup_cancel import CancelBackupModal
from screens.backup_job import BackupEngine, BackupJob, find_job, job_key, start_job
from screens.text_prompt import TextPromptModal
from screens.widgets.backup_progress import PhaseRow, summary_text
from screens.widgets.key_line import KeyLine
from screens.widgets.option_box import OptionBox
from screens.widgets.title_line import TitleLine
from themes import THEMES_DIR

if TYPE_CHECKING:
    from console.config import Settings
    from console.kinds.base import BackupRequest
    from console.preflight import CheckResult

TICK_SECONDS = 0.1
"""The screen redraws progress at most 10 times a second, however fast events arrive."""

IDLE, RUNNING, FINISHED = "idle", "running", "finished"
MODES = (IDLE, RUNNING, FINISHED)
"""The screen's class (-idle, -running, -finished) decides in CSS which boxes are shown."""


class PreflightFinished(Message):
    def __init__(self, key: tuple[str, str, str | None], results: list[CheckResult]) -> None:
        super().__init__()
        self.key = key
        self.results = results


class TargetsLoaded(Message):
    def __init__(self, kind: str, instance: str, targets: list[str]) -> None:
        super().__init__()
        self.kind = kind
        self.instance = instance
        self.targets = targets


class BackupScreen(Screen[None]):
    CSS_PATH = THEMES_DIR / "backup.tcss"

    HELP = """\
## Backup
Pick what to back up (kind, its instance where the config names several, and database where
the kind has several targets). The pre-flight
checks run at once and show PASS / WARN / FAIL / SKIP with their evidence. `b` starts the backup;
if a check fails, `o` starts it anyway after you type a reason (kept in the metadata and run log).

While it runs: one bar per phase with bytes and ETA, the tool's log, the elapsed time.
`x` cancels after a confirmation (partial files are removed). Leaving the screen does not stop
the backup; the dashboard shows it as running and coming back here shows its progress.
"""

    BINDINGS = [
        keys.bind("backup", "start", "Start", id="start-backup", tooltip="Start the backup of the selected target"),
        keys.bind("override", "override", id="override-preflight",
                  tooltip="Start although a pre-flight check fails (asks for a reason)"),
        keys.bind("cancel", "cancel_backup", id="cancel-backup", tooltip="Cancel the running backup (asks first)"),
        keys.bind("refresh", "preflight", "Re-check", id="run-preflight", tooltip="Run the pre-flight checks again"),
        keys.bind("back", "close", id="close-backup", tooltip="Back to the previous screen"),
    ]

    def __init__(self, kind: str | None = None, target: str | None = None, force_reason: str | None = None,
                 engine: BackupEngine | None = None, instance: str | None = None) -> None:
        super().__init__()
        self.kinds = list(registry.KINDS)
        self.kind = kind if kind in self.kinds else self.kinds[0]
        self.instance = instance or DEFAULT
        """The kind's instance to back up (its only one, or the one picked)."""
        self.target = target
        self.force_reason = force_reason
        self.options: dict[str, dict[str, bool]] = {}
        """Switches chosen per kind (kept when the kind picker moves away and back)."""
        self.engine = engine or BackupEngine()
        self.checks: list[CheckResult] | None = None
        self.job: BackupJob | None = None
        self._log_seen = 0
        self._ticker: Timer | None = None
        self._rows: dict[str, PhaseRow] = {}
        """The watched job's progress rows by phase name (the previous run's rows may still be leaving)."""

    @property
    def settings(self) -> Settings:
        return self.app.settings  # type: ignore[attr-defined,no-any-return]

    def compose(self) -> ComposeResult:
        yield TitleLine()
        with Horizontal(id="backup-pickers"):
            yield Label("kind", classes="picker-label")
            yield Select([(k, k) for k in self.kinds], value=self.kind, allow_blank=False, compact=True,
                         id="backup-kind")
            yield Label("instance", classes="picker-label instance-picker")
            names = [instance.name for instance in self.settings.instances_of(self.kind)]
            yield Select([(name, name) for name in names], value=self.instance if self.instance in names else names[0],
                         allow_blank=False, compact=True, id="backup-instance", classes="instance-picker")
            yield Label("target", classes="picker-label")
            yield Select([], prompt="(none)", compact=True, id="backup-target")
        yield Horizontal(id="backup-options")
        checks = DataTable(id="backup-checks", cursor_type="row", zebra_stripes=False)
        checks.border_title = "Pre-flight"
        yield checks
        yield Static("", id="check-detail", markup=False)
        summary = Static("", id="backup-summary", markup=False)
        summary.border_title = "Result"
        yield summary
        phases = VerticalScroll(id="backup-phases")
        phases.border_title = "Progress"
        yield phases
        yield Static("ready", id="backup-status", markup=False)
        yield RichLog(id="backup-log", max_lines=2000, wrap=False, markup=False)
        yield KeyLine()

    def on_mount(self) -> None:
        self.sub_title = "Backup" + (" | READ-ONLY" if self.settings.read_only else "")
        self._set_columns(["running pre-flight checks"])
        self.query_one("#backup-log", RichLog).border_title = "Log"
        self._show_mode(IDLE)
        self._show_options()
        self._show_instances()
        self._load_targets(self.kind, self.instance)
        self.query_one("#backup-kind", Select).focus()

    def _show_instances(self) -> None:
        """The instance picker, shown only when the kind has several instances; keeps a valid choice."""
        names = [instance.name for instance in self.settings.instances_of(self.kind)]
        if self.instance not in names:
            self.instance = names[0]
        picker = self.query_one("#backup-instance", Select)
        with picker.prevent(Select.Changed):
            picker.set_options([(name, name) for name in names])
            picker.value = self.instance
        for widget in self.query(".instance-picker"):
            widget.display = len(names) > 1

    def _show_options(self) -> None:
        """The kind's switches (``--no-sql``, ``--archive``, ``--no-aof``) as checkboxes."""
        row = self.query_one("#backup-options", Horizontal)
        row.remove_children()
        switches = [option for option in registry.get(self.kind).options if option.type == "switch"]
        chosen = self.options.get(self.kind, {})
        row.display = bool(switches)
        row.mount_all([OptionBox(option.label, chosen.get(option.name, False), id=f"option-{option.name}",
                                tooltip=option.help, compact=True) for option in switches])

    @on(Checkbox.Changed)
    def _option_changed(self, event: Checkbox.Changed) -> None:
        name = (event.checkbox.id or "").removeprefix("option-")
        self.options.setdefault(self.kind, {})[name] = event.value

    # --- picking ------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="backup-targets", exit_on_error=False)
    def _load_targets(self, kind: str, instance: str) -> None:
        offer = registry.get(kind).offered_targets
        settings = self.settings if instance == DEFAULT else self.settings.for_instance(kind, instance)
        self.post_message(TargetsLoaded(kind, instance, list(offer(settings)) if offer else []))

    @on(TargetsLoaded)
    def _show_targets(self, message: TargetsLoaded) -> None:
        if (message.kind, message.instance) != (self.kind, self.instance):
            return
        select = self.query_one("#backup-target", Select)
        targets = list(message.targets)
        if self.target and self.target not in targets:
            targets.insert(0, self.target)
        select.set_options([(name, name) for name in targets])
        select.disabled = not targets
        if targets:
            self.target = self.target if self.target in targets else targets[0]
            select.value = self.target
        else:
            self.target = None
        self._attach_running_job()
        if self.job is None or self.job.running:
            self.action_preflight()  # a finished job attached on reopening keeps its result on screen

    @on(Select.Changed, "#backup-kind")
    def _kind_changed(self, event: Select.Changed) -> None:
        if event.value == self.kind or event.value is Select.BLANK:
            return
        self.kind, self.target = str(event.value), None
        self._show_options()
        self._show_instances()
        self._load_targets(self.kind, self.instance)

    @on(Select.Changed, "#backup-instance")
    def _instance_changed(self, event: Select.Changed) -> None:
        if event.value is Select.BLANK or event.value == self.instance:
            return
        self.instance, self.target = str(event.value), None
        self._load_targets(self.kind, self.instance)

    @on(Select.Changed, "#backup-target")
    def _target_changed(self, event: Select.Changed) -> None:
        if event.value is Select.BLANK or event.value == self.target:
            return
        self.target = str(event.value)
        self._attach_running_job()
        self.action_preflight()

    def _request(self, force_reason: str | None = None) -> BackupRequest:
        return registry.get(self.kind).request(self.settings, self.target, self.options.get(self.kind),
                                               force_reason=force_reason or self.force_reason, instance=self.instance)

    # --- pre-flight ---------------------------------------------------------------------------

    def _show_mode(self, mode: str) -> None:
        """Before a run the checks get the room; during and after it, progress and log do."""
        for name in MODES:
            self.set_class(name == mode, f"-{name}")

    def action_preflight(self) -> None:
        if self.job is not None and self.job.running:
            return
        self._show_mode(IDLE)
        self.checks = None
        table = self.query_one("#backup-checks", DataTable)
        table.clear()
        table.add_row("...", "running pre-flight checks", "")
        self.query_one("#check-detail", Static).update("")
        self._set_status("running pre-flight checks ...", "-checking")
        self._run_preflight(self._request())

    @work(thread=True, exclusive=True, group="backup-preflight", exit_on_error=False)
    def _run_preflight(self, request: BackupRequest) -> None:
        results = self.engine.preflight(self.settings, request)
        self.post_message(PreflightFinished((request.kind, request.instance, request.target), results))

    @on(PreflightFinished)
    def _show_preflight(self, message: PreflightFinished) -> None:
        if message.key != (self.kind, self.instance, self.target):
            return
        self.checks = message.results
        table = self.query_one("#backup-checks", DataTable)
        self._set_columns([check.title for check in message.results])
        for check in message.results:
            table.add_row(check.status.check_word.upper(), check.title, check.evidence, key=check.id)
        failed = [check for check in message.results if check.status is Status.FAIL]
        warned = [check for check in message.results if check.status is Status.WARN]
        table.set_class(bool(failed), "-fail")
        table.set_class(not failed and bool(warned), "-warn")
        table.set_class(not failed and not warned, "-pass")
        worst = failed or warned
        if worst:  # the cursor (and the full-text line under the table) starts on what needs attention
            table.move_cursor(row=message.results.index(worst[0]))
        self._describe_row(table.cursor_row)
        if self.job is None or not self.job.running:
            unfixable = unfixable_by_override(message.results)
            if unfixable:
                self._set_status(f"pre-flight FAILED: {unfixable[0].details.get('fix')}", "-failed")
            elif failed:
                self._set_status(f"pre-flight FAILED ({len(failed)}): fix it, or o to override with a reason", "-failed")
            else:
                self._set_status(f"pre-flight passed{f' with {len(warned)} warning(s)' if warned else ''}: "
                                 "b starts the backup", "-ready")
        self.refresh_bindings()

    def _set_columns(self, titles: list[str]) -> None:
        """Titles whole (the evidence gets the rest and is shown whole under the table)."""
        table = self.query_one("#backup-checks", DataTable)
        table.clear(columns=True)
        # margins and border take 4 columns, each cell's padding 2, a scrollbar may take 1
        room = max(40, self.size.width - 4 - 3 * 2 - 1)
        title_width = min(max((len(title) for title in titles), default=10), room - 5 - 12)
        table.add_column("state", width=5, key="state")
        table.add_column("check", width=title_width, key="check")
        table.add_column("evidence", width=max(10, room - 5 - title_width), key="evidence")

    def on_resize(self) -> None:
        """The columns follow the width; only while the checks are shown (a result keeps its status line)."""
        if self.checks and self.has_class("-idle"):
            self._show_preflight(PreflightFinished((self.kind, self.instance, self.target), self.checks))

    @on(DataTable.RowHighlighted, "#backup-checks")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._describe_row(event.cursor_row)

    def _describe_row(self, row: int) -> None:
        """The table cuts long titles and evidence at 80 columns; the line under it shows them whole."""
        if not self.checks or not 0 <= row < len(self.checks):
            return
        check = self.checks[row]
        self.query_one("#check-detail", Static).update(f"{check.status.check_word.upper()} {check.title}: {check.evidence}")

    # --- running ------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        running = self.job is not None and self.job.running
        if action in ("start", "override", "preflight"):
            return None if running else True
        if action == "cancel_backup":
            return True if running else None
        return True

    def action_start(self) -> None:
        if self.job is not None and self.job.running:
            return
        failed = [c for c in self.checks or [] if c.status is Status.FAIL]
        if failed and not self.force_reason:
            self.notify("a pre-flight check fails: fix it, or press o to start anyway with a reason",
                        title="backup", severity="warning")
            return
        self._start(self._request())

    def action_override(self) -> None:
        unfixable = unfixable_by_override(self.checks or [])
        if unfixable:  # a reason would not make the run succeed
            self.notify(str(unfixable[0].details.get("fix")), title="no override for this", severity="warning")
            return

        failing = [f"FAIL {c.title}: {c.evidence}" for c in self.checks or [] if c.status is Status.FAIL]

        def start(reason: str | None) -> None:
            if reason:
                self._start(self._request(force_reason=reason))

        self.app.push_screen(TextPromptModal("Start anyway", "Why start the backup anyway? (recorded)",
                                             failing or ["no check fails right now"]), start)

    def _start(self, request: BackupRequest) -> None:
        self.job = start_job(self.app, self.settings, request, self.engine)
        self._watch_job()

    def _attach_running_job(self) -> None:
        """Show a backup of this target that is already running in this app (or the last one)."""
        try:
            found = find_job(self.app, job_key(self.settings, self._request()))
        except Exception:  # noqa: BLE001 - an unknown kind has no job to show
            found = None
        if found is not None and (found.running or self.job is None):
            self.job = found
            self._watch_job()

    def _watch_job(self) -> None:
        assert self.job is not None
        self._log_seen = 0
        self._rows = {}
        self.query_one("#backup-phases").remove_children()
        self.query_one("#backup-log", RichLog).clear()
        self._show_mode(RUNNING)
        if self._ticker is None:
            self._ticker = self.set_interval(TICK_SECONDS, self._tick)
        self.refresh_bindings()
        self._tick()

    def _tick(self) -> None:
        job = self.job
        if job is None:
            return

        now = job.engine.clock()
        # read before the phases: a run seen ended has recorded its last phase, so this tick (the last
        # one) draws it; read after, a phase added in between would never get its row
        ended = not job.running
        phases = self.query_one("#backup-phases", VerticalScroll)
        with self.app.batch_update():
            for state in list(job.phases.values()):
                row = self._rows.get(state.name)
                if row is not None:
                    row.show(now)
                else:  # a new row draws itself once mounted
                    row = self._rows[state.name] = PhaseRow(state, job.engine.clock)
                    phases.mount(row)
                    phases.scroll_end(animate=False)
            fresh = job.log[self._log_seen:]
            if fresh:
                log = self.query_one("#backup-log", RichLog)
                for line in fresh:
                    log.write(line)
                self._log_seen += len(fresh)
            current = job.current_phase
            if not ended:
                self._set_status(f"RUNNING {job.request.label.replace('/', ' ')} - elapsed "
                                 f"{duration(job.elapsed(now))}" + (f" - {current.name}" if current else "")
                                 + " - x cancels", "-running")
        if ended:
            self._finished(job)

    def _finished(self, job: BackupJob) -> None:
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        self.query_one("#backup-summary", Static).update(summary_text(job))
        self._show_mode(FINISHED)
        status = job.result.status if job.result else "failed"
        self._set_status(f"{status.upper()} after {self._duration(job)} - r re-checks, b runs again",
                         "-done" if status == "ok" else "-failed")
        self.refresh_bindings()

    @staticmethod
    def _duration(job: BackupJob) -> str:
        return duration(job.elapsed())

    def _set_status(self, text: str, state: str) -> None:
        status = self.query_one("#backup-status", Static)
        for name in ("-checking", "-ready", "-running", "-done", "-failed"):
            status.remove_class(name)
        status.add_class(state)
        status.update(text)

    def action_cancel_backup(self) -> None:
        job = self.job
        if job is None or not job.running:
            return

        def answer(confirmed: bool | None) -> None:
            if confirmed and job.running:
                job.cancel.cancel()
                self._set_status("CANCELLING: stopping the tools and removing partial files ...", "-failed")

        what = f"the {instance_label(job.request.kind, job.request.instance)} backup" + (
            f" of {job.request.target}" if job.request.target else "")
        self.app.push_screen(CancelBackupModal(what), answer)

    def action_close(self) -> None:
        if self.job is not None and self.job.running:
            self.notify("the backup keeps running; the dashboard shows it, and this screen shows it again",
                        title="backup")
        self.dismiss(None)

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            self._set_status(f"ERROR: {event.worker.error}", "-failed")
            self.notify(str(event.worker.error), title=event.worker.group, severity="error")

