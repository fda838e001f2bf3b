"""DashboardScreen: a live panel per service instance, the newest backups, and what is running.

A kind with several instances gets a group: a title line with their worst state in words over a
panel per instance. When the panels do not fit (twenty instances at 80x24), one table row per
instance replaces them. `/` filters the instances, `:` switches the context (a tag value, a kind,
an instance); a line at the top says what is shown and escape clears it.

Probes run in a worker; each result is posted as it arrives, so a hanging service shows as
"timeout" without holding up the others. The Backups panel is filled from the catalog, read in a
thread of its own meanwhile (console.backup_summary): the monitor's findings that need the probes
follow when they end, and are shown as pending until the first round has them. The next round is
armed only when the previous one has finished (rounds never overlap) and is skipped while paused
or while another screen is on top.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input
from textual.worker import Worker, WorkerState

from console.formatting import short_ago
from screens import keys
from screens.context_switch import ContextModal
from screens.instance_scope import Entry, Scope, contexts, entries_of, lock_is_of
from screens.lines_view import LinesModal
from screens.messages import BackupsScanned, NewestDrillFound, ProbeFinished, ProbeRoundFinished
from screens.widgets.backups_panel import BackupsPanel
from screens.widgets.instance_panels import InstancePanels
from screens.widgets.key_line import KeyLine
from screens.widgets.scope_bar import ScopeBar, ScopeChanged
from screens.widgets.service_panel import BACKUP_KIND_OF_SERVICE, TITLES, ServicePanel
from screens.widgets.title_line import TitleLine
from themes import THEMES_DIR

if TYPE_CHECKING:
    from textual.widgets import DataTable

    from console.backup_summary import BackupSummary, CatalogPass
    from console.monitor import Finding
    from console.probes import ProbeResult
    from screens.app import BackupConsoleApp
    from screens.widgets.instance_table import InstanceTable

WIDE_COLUMNS = 110
MIN_BACKUPS_LINES = 6
"""Panels fit when they leave the Backups panel this many lines (four lines and its border)."""
VERIFICATION_ORDER = ("failed", "warning", "unverified", "verified")
CATALOG_HEAD_START_SECONDS = 0.5
"""A round's probes start when its catalog pass has ended, or after this long if it has not: both are
mostly CPU in one process (one interpreter lock), so side by side each takes as long as both; the
catalog first puts the Backups panel up sooner, and a slow disk holds the probes no longer than this."""
MONITOR_INTERVAL_SECONDS = 60.0
"""The monitor's findings that need the probes (storage, tools, WAL) are re-evaluated at most this often:
they run subprocesses. Those that need only the catalog and the run log (freshness, failed runs,
verification) come with every round's catalog pass."""


class DashboardScreen(Screen[None]):
    CSS_PATH = THEMES_DIR / "dashboard.tcss"

    HELP = """\
## Dashboard
One panel per service: its state as a word (UP, DEGRADED, DOWN, TIMEOUT, OFF = not configured)
and its key figures. The Backups panel has one line per target (each database, each kind): the
age of its newest set, that set's own verification (verified, unverified, warning, FAILED) and
the target's own last run when it did not succeed; then backups running now (cron runs too)
and alerts. Enter on it shows every line whole; `d` opens the newest drill transcript; `f` the
fleet view (every backup host publishing to the bucket, stale ones named).

Probes refresh every few seconds (`ui.refresh_seconds`); a round starts only when the last one
ended. The Backups panel is filled from the catalog without waiting for them; until the first round's
probes have answered, the findings that need them (storage, tools, WAL archiving) are PENDING.
Select a panel with the arrow keys or tab and press enter for every metric.

## Several instances
A kind with several instances (`postgres.instances` in the config) gets a title line with how
many are up and the worst states in words ("PostgreSQL  2/3 up · 1 DOWN") over one panel per
instance, titled by its name (and tags when they fit). When the panels do not fit the terminal,
a table replaces them: one row per instance with its state, latency, newest backup and its
verification; arrows move, enter opens the instance's details, `b` its Backup screen.

`/` filters the instances by name, kind or tag (`analytics`, `redis`, `env=prod`); enter keeps the
filter. `:` switches the context: one tag value, one kind or one instance. The line at the top
says what is shown; escape clears the filter and the context. At 80 columns `/` and `:` take the
footer places of `t` (retention) and `d` (drill), which still work.
"""

    BINDINGS = [
        keys.bind("backup", "open_backup", id="open-backup",
                  tooltip="Run a backup of the selected instance: pick it, check it, watch its progress"),
        keys.bind("checklist", "open_checklist", "Checks", id="open-checklist",
                  tooltip="Pre-backup checklists, at the selected service's; the gate leads into the backup"),
        keys.bind("verify", "app.open('reports')", "Reports", id="open-reports",
                  tooltip="Verification reports; verify every backup set now"),
        keys.bind("retention", "open_screen('retention')", "Retain", id="open-retention",
                  tooltip="Retention state, planned deletions and lifecycle rules"),
        keys.bind("drill", "open_drill", id="open-drill", tooltip="The newest drill's transcript (every drill from there)"),
        keys.bind("refresh", "refresh_now", id="refresh", tooltip="Probe every service now"),
        keys.bind("pause", "toggle_pause", id="toggle-pause"),
        keys.bind("filter", "start_filter", id="filter-instances",
                  tooltip="Filter the instances by name, kind or tag; enter keeps it, escape clears it"),
        keys.bind("context", "switch_context", id="switch-context",
                  tooltip="Show only one tag value, kind or instance; escape leaves it"),
        keys.bind("back", "clear_scope", "Clear", id="clear-scope", show=False,
                  tooltip="Clear the filter and the context"),
        # With several instances the footer has no room at 80 columns for t and d beside / and :
        # (check_action hides the shown pair); these twins keep the keys working and in the help.
        keys.bind("retention", "open_screen('retention', False)", "Retain", id="open-retention", show=False,
                  tooltip="Retention state, planned deletions and lifecycle rules"),
        keys.bind("drill", "open_drill(False)", id="open-drill", show=False,
                  tooltip="The newest drill's transcript (every drill from there)"),
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
        self._round_skipped = False
        """A round came due while another screen covered this one."""
        self._results: dict[str, ProbeResult] = {}
        self._monitored_at = -MONITOR_INTERVAL_SECONDS
        self._probe_findings: list[Finding] | None = None
        """The monitor's findings that need the probes, from the last round that evaluated them (only the
        round's worker writes and reads it; rounds never overlap); None until the first has."""
        self.entries: list[Entry] = []
        """One per probed instance, in service order (filled in compose, from the settings)."""
        self._labels: set[str] = set()
        """Labels of the instances the filter and context show now."""
        self._summary: BackupSummary | None = None
        """The last backups scan: the Backups panel is drawn again from it when the scope changes."""
        self._shown: tuple[list[Entry], int] | None = None
        """The entries (and width) the table shows now; None while the panels are shown."""
        self._table: InstanceTable | None = None
        """Mounted the first time the panels do not fit, and kept: at 80x24 with one instance per service
        it is never shown, and composed hidden it made the first frame parse a DataTable's stylesheet and
        mount and style one (bench/README.md, "Start-up")."""
        self._backup_cells: dict[str, tuple[str, str]] = {}
        """label -> (newest backup, its verification) as the table shows them, kept for a table mounted later."""

    @property
    def console_app(self) -> BackupConsoleApp:
        return self.app  # type: ignore[return-value]

    @property
    def several_instances(self) -> bool:
        """Whether some kind has several instances: only then are there instances to filter."""
        return len({entry.service for entry in self.entries}) < len(self.entries)

    def compose(self) -> ComposeResult:
        # The panels' services in the probes' order: TITLES lists them as console.probes.SERVICES does
        # (tests/screens/test_dashboard.py holds them equal); SERVICES loads every probe's code, which
        # the first round's worker imports after the first frame.
        self.entries = entries_of(self.console_app.settings, TITLES)
        yield TitleLine()
        yield ScopeBar()
        # Not a scroll view: it would take the arrow keys, which move between panels here.
        with Vertical(id="dashboard-body"):
            yield InstancePanels(self.entries)
            yield BackupsPanel()  # the instance table goes above it when first needed (_instance_table)
        yield KeyLine()

    def on_mount(self) -> None:
        self._update_subtitle()
        self._arrange()
        # The first round imports psycopg, boto3 and friends in the worker: paint the screen first.
        self.call_after_refresh(self.refresh_now)

    def on_resize(self, event: object) -> None:
        self._arrange()

    @property
    def wide(self) -> bool:
        return self.size.width >= WIDE_COLUMNS

    def _arrange(self) -> None:
        """Show what the scope lets through: panels when they fit above a Backups panel of
        MIN_BACKUPS_LINES, else the table; the scope line says it in words."""
        wide = self.wide
        self.set_class(wide, "-wide")
        for panel in self.query(ServicePanel):
            panel.compact = not wide
        bar = self.query_one(ScopeBar)
        shown = [entry for entry in self.entries if self.scope.shows(entry)]
        labels = {entry.label for entry in shown}
        bar.show_counts(len(shown), len(self.entries))
        panels = self.query_one(InstancePanels)
        panels.show_only(labels)
        body_lines = self.size.height - 2 - (1 if bar.in_use else 0)  # header and footer
        table_mode = panels.height_for(labels, wide) + MIN_BACKUPS_LINES > body_lines
        table = self._instance_table() if table_mode else self._table
        self.set_class(table_mode, "-table")
        if table is not None:
            table.styles.max_height = max(3, body_lines - MIN_BACKUPS_LINES)
        inside_width = self.size.width - 4  # the table's margins and border
        if table is not None and table_mode and (shown, inside_width) != self._shown:
            table.show_entries(shown, inside_width)
        self._shown = (shown, inside_width) if table_mode else None
        if self._summary is not None:
            self.query_one(BackupsPanel).show(self._summary, self.console_app.clock().timestamp(), self._in_scope)
        self._labels = labels
        if not bar.editing:
            self._keep_focus()
            self.call_after_refresh(self._keep_focus)

    def _instance_table(self) -> InstanceTable:
        """The table, mounted above the Backups panel with every result and backup fact so far."""
        if self._table is None:
            from screens.widgets.instance_table import InstanceTable  # with DataTable's code: only when first needed

            self._table = InstanceTable()
            self._table.results.update(self._results)
            self._table.backups.update(self._backup_cells)
            self.query_one("#dashboard-body").mount(self._table, before=self.query_one(BackupsPanel))
        return self._table

    def _in_scope(self, kind: str, instance: str) -> bool:
        """Whether the filter and context show this instance (config trees, which have no panel, too)."""
        if not self.scope.active:
            return True
        entry = next((entry for entry in self.entries if (entry.service, entry.instance) == (kind, instance)), None)
        if entry is None:
            entry = next((found for found in entries_of(self.console_app.settings, [kind])
                          if found.instance == instance), Entry(kind, instance))
        return self.scope.shows(entry)

    def _keep_focus(self) -> None:
        """Focus stays where it is when still shown; else the table, or the first panel shown.

        Decided from the arrangement itself, not from the focus chain (whose styles may not be
        updated yet), and done before the hidden widget would hand focus on by itself.
        """
        focused = self.focused
        if isinstance(focused, BackupsPanel) or isinstance(focused, Input) and self.query_one(ScopeBar).editing:
            return
        table = self._table
        if table is not None and self.has_class("-table"):
            if focused is not table:
                table.focus()
            return
        labels = self._labels
        if isinstance(focused, ServicePanel) and focused.label in labels:
            return
        panels = self.query_one(InstancePanels).panels
        first = next((panel for label, panel in panels.items() if label in labels), None)
        (first or self.query_one(BackupsPanel)).focus()

    @property
    def columns(self) -> int:
        return 3 if self.wide else 2
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
            self._round_skipped = True  # a modal or another screen is on top: this round waits for the return
            return
        self.refresh_now()

    def on_screen_resume(self) -> None:
        """Back on top: the round skipped meanwhile runs now, so a backup made on the Backup screen (or
        anything else done elsewhere) shows at once, not a refresh interval later."""
        if self._round_skipped:
            self._round_skipped = False
            self.refresh_now()

    @work(thread=True, exclusive=True, group="probes", exit_on_error=False)
    def _run_probes(self) -> None:
        """One round: the catalog pass in a thread of its own while the probes run here (after its head
        start), so the Backups panel waits for the catalog, not for the slowest server; then, every
        MONITOR_INTERVAL_SECONDS, the findings that need the probes."""
        from console.backup_summary import probe_findings

        app = self.console_app
        now = app.clock().timestamp()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="catalog") as reader:
            reading = reader.submit(self._read_catalog, now)
            wait([reading], timeout=CATALOG_HEAD_START_SECONDS)
            results = app.prober(app.settings, None, lambda result: self.post_message(ProbeFinished(result)))
            passed = reading.result()
        if time.monotonic() - self._monitored_at >= MONITOR_INTERVAL_SECONDS:
            self._probe_findings = probe_findings(app.settings, passed.catalog,
                                                  {result.label: result for result in results}, now)
            self._monitored_at = time.monotonic()
            self.post_message(BackupsScanned(passed.with_probe_findings(self._probe_findings)))
        self.post_message(ProbeRoundFinished())

    def _read_catalog(self, now: float) -> CatalogPass:
        """The catalog pass (a thread of the round's worker): posted at once, with the last probe
        findings this screen has, or none yet (pending)."""
        from console.backup_summary import catalog_pass

        passed = catalog_pass(self.console_app.settings, now)
        self.post_message(BackupsScanned(passed.with_probe_findings(self._probe_findings)))
        return passed

    @on(ProbeFinished)
    def _show_probe(self, message: ProbeFinished) -> None:
        result = message.result
        self._results[result.label] = result
        self.query_one(InstancePanels).show_result(result)
        if self._table is not None:
            self._table.show_result(result)

    @on(BackupsScanned)
    def _show_backups(self, message: BackupsScanned) -> None:
        """Each instance's panel (and table row) gets its own newest set, verification and running backup."""
        summary = message.summary
        now = self.console_app.clock().timestamp()
        self._summary = summary
        self.query_one(BackupsPanel).show(summary, now, self._in_scope)
        with self.app.batch_update():
            for panel in self.query(ServicePanel):
                kind = BACKUP_KIND_OF_SERVICE.get(panel.service)
                if kind is None:
                    self._show_backup_cells(panel.label, "", "")
                    continue
                mine = [state for state in summary.targets if state.kind == kind and state.instance == panel.instance]
                ages = [state.timestamp for state in mine if state.timestamp]
                panel.last_backup_age = (now - max(ages)) if ages else None
                running = [lock for lock in summary.running if lock_is_of(lock.name, kind, panel.instance)]
                panel.running = f"{running[0].description} (pid {running[0].pid})" if running else None
                verdicts = [state.verification for state in mine if state.verification in VERIFICATION_ORDER]
                worst = min(verdicts, key=VERIFICATION_ORDER.index) if verdicts else ""
                self._show_backup_cells(panel.label, "running" if running else short_ago(panel.last_backup_age)
                                        if ages else "never", "FAILED" if worst == "failed" else worst)

    def _show_backup_cells(self, label: str, newest: str, verified: str) -> None:
        self._backup_cells[label] = (newest, verified)
        if self._table is not None:
            self._table.show_backup(label, newest, verified)

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
            self.app.push_screen(LinesModal("Backups", focused.lines))
        elif isinstance(focused, ServicePanel):
            self._open_instance(focused.label)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:  # by name: DataTable not imported
        if self._table is not None and event.data_table is self._table:
            self._open_instance(str(event.row_key.value))

    def _open_instance(self, label: str) -> None:
        """The service detail screen of one instance, scoped to it."""
        panel = self.query_one(InstancePanels).panels[label]
        self.console_app.open_screen("service-detail", service=panel.service, result=panel.result,
                                     instance=panel.instance)

    def _focused_table(self) -> InstanceTable | None:
        """The instance table, when it is mounted and has the focus."""
        return self._table if self._table is not None and self.focused is self._table else None

    def _selected_entry(self) -> Entry | None:
        """The instance the focused panel or the table's cursor row stands for."""
        focused = self.focused
        table = self._focused_table()
        if table is not None:
            label = table.selected_label()
        elif isinstance(focused, ServicePanel):
            label = focused.label
        else:
            return None
        return next((entry for entry in self.entries if entry.label == label), None)

    def _selected_backup(self) -> tuple[str, str] | None:
        """(kind, instance) of the selected instance's backups; None for none selected, or S3 and storage,
        which have no backups of their own."""
        entry = self._selected_entry()
        kind = BACKUP_KIND_OF_SERVICE.get(entry.service) if entry is not None else None
        return None if entry is None or kind is None else (kind, entry.instance)

    def action_open_backup(self) -> None:
        """The Backup screen on the selected instance's kind and instance (its first target picked);
        a service without backups of its own (S3, storage) opens it as it was left."""
        selected = self._selected_backup()
        if selected is None:
            self.console_app.open_screen("backup")
        else:
            self.console_app.open_screen("backup", kind=selected[0], instance=selected[1])

    def action_open_checklist(self) -> None:
        """The checklists, at the selected instance's kind (the first list for S3 and storage, which have none)."""
        selected = self._selected_backup()
        self.console_app.open_screen("checklist", service=selected[0] if selected else None)

    def action_open_screen(self, name: str, in_footer: bool = True) -> None:
        self.console_app.open_screen(name)

    def action_open_drill(self, in_footer: bool = True) -> None:
        self._find_newest_drill()

    @work(thread=True, exclusive=True, group="drill-open", exit_on_error=False)
    def _find_newest_drill(self) -> None:
        from console.drill import list_drills  # asked for here, not loaded before the first frame

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

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("start_filter", "switch_context"):
            return self.several_instances
        if action == "clear_scope":
            return self.query_one(ScopeBar).in_use
        if action in ("open_screen", "open_drill"):  # the footer twin (parameter False) with several instances
            in_footer = parameters[-1] if parameters and isinstance(parameters[-1], bool) else True
            return in_footer != self.several_instances
        return True

    # --- filter and context ---------------------------------------------------------------------

    @property
    def scope(self) -> Scope:
        return self.query_one(ScopeBar).scope

    def action_start_filter(self) -> None:
        self.query_one(ScopeBar).open_filter()

    def action_switch_context(self) -> None:
        def chosen(selector: str | None) -> None:
            if selector is not None:
                self.query_one(ScopeBar).set_context(selector)

        self.app.push_screen(ContextModal(contexts(self.entries), self.scope.context), chosen)

    def action_clear_scope(self) -> None:
        self.query_one(ScopeBar).clear()

    @on(ScopeChanged)
    def _scope_changed(self) -> None:
        self._arrange()
        self.refresh_bindings()

    # --- moving between panels --------------------------------------------------------------------

    def _panels_shown(self) -> list[Widget]:
        """The panels (and the table and Backups panel) that can take focus now, in screen order."""
        return [widget for widget in self.focus_chain if widget.has_class("service-panel") or
                widget is self._table]

    def action_move(self, step: int) -> None:
        panels = self._panels_shown()
        if not panels:
            return
        index = panels.index(self.focused) if self.focused in panels else 0
        panels[(index + step) % len(panels)].focus()

    def action_move_row(self, step: int) -> None:
        """Up and down to the nearest panel of the row above or below; below the last row is the
        Backups panel, and nothing wraps."""
        panels = self._panels_shown()
        focused = self.focused
        if not panels or focused not in panels:
            if panels:
                panels[0].focus()
            return
        table = self._focused_table()
        if table is not None and 0 <= table.cursor_row + step < table.row_count:
            table.move_cursor(row=table.cursor_row + step)  # j and k move in the table as the arrows do
            return
        here = focused.region
        if step > 0:
            candidates = [panel for panel in panels if panel.region.y >= here.bottom]
            row = min((panel.region.y for panel in candidates), default=None)
        else:
            candidates = [panel for panel in panels if panel.region.bottom <= here.y]
            row = max((panel.region.y for panel in candidates), default=None)
        if row is None:
            return
        in_row = [panel for panel in candidates if panel.region.y == row]
        min(in_row, key=lambda panel: abs(panel.region.x - here.x)).focus()

