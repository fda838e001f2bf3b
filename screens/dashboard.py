"""DashboardScreen: a live panel per service, the newest backups, and what is running.

Probes run in a worker; each result is posted as it arrives, so a hanging service shows as
"timeout" without holding up the others. The next round is armed only when the previous one
has finished (rounds never overlap) and is skipped while paused or while another screen is on
top.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding

from screens import keys
from textual.containers import Grid, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header
from textual.worker import Worker, WorkerState

from screens.messages import BackupsScanned, BackupSummary, NewestDrillFound, ProbeFinished, ProbeRoundFinished
from screens.widgets.backups_panel import BackupsPanel
from screens.widgets.service_panel import BACKUP_KIND_OF_SERVICE, ServicePanel

if TYPE_CHECKING:
    from console.config import Settings
    from console.probes import ProbeResult
    from screens.app import BackupConsoleApp

WIDE_COLUMNS = 110
MONITOR_INTERVAL_SECONDS = 60.0
"""Monitor findings (freshness, tools, WAL) are re-evaluated at most this often: they run subprocesses."""


class DashboardScreen(Screen[None]):
    HELP = """\
## Dashboard
One panel per service: its state as a word (UP, DEGRADED, DOWN, TIMEOUT, OFF = not configured)
and its key figures. The Backups panel has one line per target (each database, each kind): the
age of its newest set, that set's own verification (verified, unverified, warning, FAILED) and
the target's own last run when it did not succeed; then backups running now (cron runs too)
and alerts. Enter on it shows every line whole; `d` opens the newest drill transcript; `f` the
fleet view (every backup host publishing to the bucket, stale ones named).

Probes refresh every few seconds (`ui.refresh_seconds`); a round starts only when the last one
ended. Select a panel with the arrow keys or tab and press enter for every metric.
"""

    BINDINGS = [
        keys.bind("backup", "app.open('backup')", id="open-backup",
                  tooltip="Run a backup: pick it, check it, watch its progress"),
        keys.bind("checklist", "app.open('checklist')", "Checks", id="open-checklist",
                  tooltip="Pre-backup checklists; the gate leads into the backup"),
        keys.bind("verify", "app.open('reports')", "Reports", id="open-reports",
                  tooltip="Verification reports; verify every backup set now"),
        keys.bind("retention", "app.open('retention')", "Retain", id="open-retention",
                  tooltip="Retention state, planned deletions and lifecycle rules"),
        keys.bind("drill", "open_drill", id="open-drill", tooltip="The newest drill's transcript (every drill from there)"),
        keys.bind("refresh", "refresh_now", id="refresh", tooltip="Probe every service now"),
        keys.bind("pause", "toggle_pause", id="toggle-pause"),
        keys.bind("open", "open_detail", "Details", id="open-detail", show=False,
                  tooltip="Every metric of the selected service, or every line of the Backups panel"),
        Binding("right,l", "move(1)", "Next", id="focus-next", show=False),
        Binding("left,h", "move(-1)", "Previous", id="focus-previous", show=False),
        Binding("down,j", "move_row(1)", "Down", id="focus-down", show=False),
        Binding("up,k", "move_row(-1)", "Up", id="focus-up", show=False),
        keys.bind("pitr", "app.open('pitr')", id="open-pitr", show=False,
                  tooltip="PostgreSQL recovery window; restore to a moment"),
        keys.bind("fleet", "app.open('fleet')", id="open-fleet", show=False,
                  tooltip="Every backup host's targets from the bucket; stale hosts and targets named"),
        # --- add bindings that open other screens here, with a verb of screens/keys.py ---
    ]

    def __init__(self) -> None:
        super().__init__()
        self.paused = False
        self._probing = False
        self._timer: Timer | None = None
        self._results: dict[str, object] = {}
        self._monitored_at = -MONITOR_INTERVAL_SECONDS

    @property
    def console_app(self) -> BackupConsoleApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        from console.probes import SERVICES

        yield Header(show_clock=False, icon="")
        # Not a scroll view: it would take the arrow keys, which move between panels here.
        with Vertical(id="dashboard-body"):
            with Grid(id="dashboard-grid"):
                for name in SERVICES:
                    yield ServicePanel(name)
            yield BackupsPanel()
        yield Footer(compact=True, show_command_palette=False)  # 80 columns: every key of the screen, ctrl+p in help

    def on_mount(self) -> None:
        self._update_subtitle()
        self._apply_width(self.size.width)
        self.query(ServicePanel).first().focus()
        # The first round imports psycopg, boto3 and friends in the worker: paint the screen first.
        self.call_after_refresh(self.refresh_now)

    def on_resize(self, event: object) -> None:
        self._apply_width(self.size.width)

    def _apply_width(self, width: int) -> None:
        wide = width >= WIDE_COLUMNS
        self.query_one("#dashboard-grid").set_class(wide, "-wide")
        for panel in self.query(ServicePanel):
            panel.compact = not wide

    @property
    def columns(self) -> int:
        return 3 if self.query_one("#dashboard-grid").has_class("-wide") else 2

    # --- refresh loop -------------------------------------------------------------------------

    def refresh_now(self) -> None:
        """Start a probe round unless one is running (rounds never overlap)."""
        if self._probing:
            return
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._probing = True
        self._run_probes()

    def action_refresh_now(self) -> None:
        self.refresh_now()

    def _schedule_next(self) -> None:
        if self.paused:
            return
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(self.console_app.settings.ui.refresh_seconds, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self.app.screen is not self:
            self._schedule_next()  # a modal or another screen is on top: skip this round
            return
        self.refresh_now()

    @work(thread=True, exclusive=True, group="probes", exit_on_error=False)
    def _run_probes(self) -> None:
        app = self.console_app
        results = app.prober(app.settings, None, lambda result: self.post_message(ProbeFinished(result)))
        monitor_due = time.monotonic() - self._monitored_at >= MONITOR_INTERVAL_SECONDS
        summary = scan_backups(app.settings, {result.label: result for result in results} if monitor_due else None,
                               now=app.clock().timestamp())
        if monitor_due:
            self._monitored_at = time.monotonic()
        self.post_message(BackupsScanned(summary))
        self.post_message(ProbeRoundFinished())

    @on(ProbeFinished)
    def _show_probe(self, message: ProbeFinished) -> None:
        result = message.result
        self._results[result.label] = result
        for panel in self.query(ServicePanel):
            if panel.service == result.label:
                panel.result = result

    @on(BackupsScanned)
    def _show_backups(self, message: BackupsScanned) -> None:
        summary = message.summary
        now = self.console_app.clock().timestamp()
        self.query_one(BackupsPanel).show(summary, now)
        with self.app.batch_update():
            for panel in self.query(ServicePanel):
                kind = BACKUP_KIND_OF_SERVICE.get(panel.service)
                if kind is None:
                    continue
                ages = [state.timestamp for state in summary.targets if state.kind == kind and state.timestamp]
                panel.last_backup_age = (now - max(ages)) if ages else None
                running = [lock for lock in summary.running if lock.name == kind or lock.name.startswith(kind + "-")]
                panel.running = f"{running[0].description} (pid {running[0].pid})" if running else None

    @on(ProbeRoundFinished)
    def _round_finished(self) -> None:
        self._probing = False
        self._schedule_next()

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.group == "probes":
            self.notify(f"refresh failed: {event.worker.error}", title="dashboard", severity="error")
            self._probing = False
            self._schedule_next()

    # --- actions ------------------------------------------------------------------------------

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        if self.paused and self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._update_subtitle()
        if not self.paused:
            self.refresh_now()

    def _update_subtitle(self) -> None:
        parts = []
        if self.console_app.settings.read_only:
            parts.append("READ-ONLY")
        if self.paused:
            parts.append("PAUSED (p resumes)")
        else:
            parts.append(f"refresh every {self.console_app.settings.ui.refresh_seconds:g}s")
        self.sub_title = " | ".join(parts)

    def action_open_detail(self) -> None:
        focused = self.focused
        if isinstance(focused, BackupsPanel):
            from screens.lines_view import LinesModal

            self.app.push_screen(LinesModal("Backups", focused.lines))
        elif isinstance(focused, ServicePanel):
            self.console_app.open_screen("service-detail", service=focused.service, result=focused.result)

    def action_open_drill(self) -> None:
        self._find_newest_drill()

    @work(thread=True, exclusive=True, group="drill-open", exit_on_error=False)
    def _find_newest_drill(self) -> None:
        from console.drill import list_drills

        drills = list_drills(self.console_app.settings.backup_dir)
        self.post_message(NewestDrillFound(drills[0].id if drills else None))

    @on(NewestDrillFound)
    def _open_drill(self, message: NewestDrillFound) -> None:
        """The drills list with the newest transcript on top of it: escape leads to every other drill."""
        from screens.drill_transcript import DrillTranscriptScreen

        self.console_app.open_screen("drills")
        if message.drill_id is None:
            self.notify("no drill has been run yet: ctrl+p, 'Drill: start'", title="drills")
        else:
            self.app.push_screen(DrillTranscriptScreen(message.drill_id))

    def action_move(self, step: int) -> None:
        panels = list(self.query(".service-panel"))
        if not panels:
            return
        index = panels.index(self.focused) if self.focused in panels else 0
        panels[(index + step) % len(panels)].focus()

    def action_move_row(self, step: int) -> None:
        """Up and down by a grid row; below the last row is the Backups panel, and nothing wraps."""
        panels = list(self.query(".service-panel"))
        if not panels:
            return
        index = panels.index(self.focused) if self.focused in panels else 0
        target = index + step * self.columns
        if step > 0 and target >= len(panels):
            target = len(panels) - 1
        if step < 0 and index == len(panels) - 1:
            target = 0  # from the Backups panel up to the first row's panel
        if 0 <= target < len(panels):
            panels[target].focus()


def scan_backups(settings: Settings, probes: dict[str, ProbeResult] | None = None,
                 now: float | None = None) -> BackupSummary:
    """Every target's newest set (its own verification) and last run, locks held now; with ``probes``,
    monitor findings. Runs in the worker thread."""
    from console.lock import held_locks
    from console.verify.state import target_states

    findings = None
    if probes is not None:
        from console.monitor import collect

        findings = [f for f in collect(settings, now=now, probes=probes, certificates=False).findings
                    if f.severity != "ok"]
    return BackupSummary(target_states(settings), held_locks(settings.backup_dir), findings)
