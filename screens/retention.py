"""RetentionScreen: per kind how many sets, oldest/newest, size locally and in S3, next expiry,
the lifecycle rule in force and the planned actions, and a row for the verification reports;
`a` applies after the operator types the number of sets and reports to delete."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on, work
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from console.formatting import size
from screens import keys
from screens.text_prompt import TextPromptModal
from screens.widgets.key_line import KeyLine
from screens.widgets.title_line import TitleLine
from themes import THEMES_DIR

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from console.retention.apply import ApplyResult
    from console.retention.state import RetentionOverview


class RetentionLoaded(Message):
    def __init__(self, overview: RetentionOverview) -> None:
        super().__init__()
        self.overview = overview


class RetentionApplied(Message):
    def __init__(self, result: ApplyResult) -> None:
        super().__init__()
        self.result = result


def _day(stamp: str | None) -> str:
    return f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}" if stamp else "-"


class RetentionScreen(Screen[None]):
    CSS_PATH = THEMES_DIR / "retention.tcss"

    HELP = """\
## Retention
The upper table: per kind, the sets on disk, what the plan would do ("+N arch": N offsite sets
due to move to the archive class), their size locally and in S3, the oldest and newest, when
the next kept set passes its local age, and the bucket lifecycle rule in force. The lower table: every planned action (REMOVE, or a transition to the
archive class done by the bucket lifecycle) with its rule and reason.

The `reports` row counts the verification reports in BACKUP_DIR/reports: those older than
`retention.report_days` are removed too, except the newest and the newest per kind.

The `pg-base` row counts the PostgreSQL base backups (decided by the `postgres` rule), the
`pg-wal` row the archived WAL files: those older than the start of the oldest base backup the
plan keeps are removed (a base backup removed by the same plan protects nothing), shown as
ranges of consecutive segments per timeline. Timeline history files are always kept, and no
WAL is removed while no base backup is kept or one cannot be read.

`r` plans again. `a` applies the plan: type the number of sets, base backups, WAL files and
reports it removes to confirm (refused in read-only mode). The newest verified set and
`min_keep` sets per kind are never removed.
"""

    BINDINGS = [
        keys.bind("back", "app.pop_screen", id="back"),
        keys.bind("refresh", "reload", "Replan", id="replan", tooltip="Plan retention again"),
        keys.bind("apply", "apply", id="apply-retention", tooltip="Delete what the plan removes (typed confirmation)"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.overview: RetentionOverview | None = None
        self._busy = False

    def compose(self) -> ComposeResult:
        yield TitleLine()
        yield Static("planning...", id="retention-summary", markup=False)
        yield DataTable(id="retention-kinds", cursor_type="row", zebra_stripes=True)
        yield DataTable(id="retention-actions", cursor_type="row", zebra_stripes=True)
        yield Static("", id="retention-detail", markup=False)
        yield KeyLine()

    def on_mount(self) -> None:
        self.sub_title = "Retention" + (" | READ-ONLY" if self.app.settings.read_only else "")  # type: ignore[attr-defined]
        self._set_columns()
        self.query_one("#retention-kinds", DataTable).focus()
        self.action_reload()

    def _set_columns(self) -> None:
        """Fixed widths that fit the screen (80 columns and up): the table never shows cells cut to
        their header's width while it refills; the highlighted row is shown whole under the tables
        (oldest set, lifecycle rule, the whole reason)."""
        room = max(78, self.size.width) - 2  # each cell pads one column either side
        kinds = self.query_one("#retention-kinds", DataTable)
        kinds.clear(columns=True)
        fixed = (("kind", 8), ("sets", 4), ("plan", 12), ("local", 9), ("S3", 9), ("newest", 10))
        for label, width in fixed:
            kinds.add_column(label, key=label, width=width)
        kinds.add_column("next expiry", key="next expiry", width=max(10, room - sum(w + 2 for _, w in fixed) - 2))
        actions = self.query_one("#retention-actions", DataTable)
        actions.clear(columns=True)
        fixed = (("action", 9), ("set", 30), ("age", 7), ("size", 9))
        for label, width in fixed:
            actions.add_column(label, key=label, width=width)
        actions.add_column("why", key="why", width=max(12, room - sum(w + 2 for _, w in fixed) - 2))

    def on_resize(self) -> None:
        if not self._busy and self.overview is not None:  # while busy, the rows come with the new widths
            self._show(RetentionLoaded(self.overview))

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table is self.focused:
            self._describe(event.data_table)

    def on_descendant_focus(self, event: object) -> None:
        if isinstance(self.focused, DataTable):
            self._describe(self.focused)

    def _describe(self, table: DataTable) -> None:
        """The focused table's highlighted row whole: what the narrow columns leave out or cut."""
        if self.overview is None or not table.row_count:
            return
        row_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        key = str(row_key.value)
        text = ""
        if table.id == "retention-kinds":
            reports = self.overview.reports
            states = self.overview.kinds + self.overview.pitr + ([reports] if reports is not None else [])
            state = next((item for item in states if item.kind == key), None)
            if state is not None:
                text = (f"{state.kind}: oldest {_day(state.oldest)}, newest {_day(state.newest)}, "
                        f"next expiry {state.next_expiry or '-'}; lifecycle: {state.lifecycle}")
        else:
            row = table.get_row(row_key)
            text = f"{row[0]} {row[1]} ({row[2]}, {row[3]}): {row[4]}"
        self.query_one("#retention-detail", Static).update(text)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "apply" and (self._busy or self.overview is None):
            return None  # shown greyed out while planning or applying
        return True

    def action_reload(self) -> None:
        self._busy = True
        self._set_summary("planning...", "-busy")
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="retention")
    def _load(self) -> None:
        from console.retention.state import overview

        app = self.app
        self.post_message(RetentionLoaded(overview(app.settings, now=app.clock())))  # type: ignore[attr-defined]

    @on(RetentionLoaded)
    def _show(self, message: RetentionLoaded) -> None:
        self.overview = overview = message.overview
        self._busy = False
        self._set_columns()  # for the width the screen has now
        plans = overview.plans
        count = overview.sets_to_remove
        reports = overview.reports_to_remove
        bases, wal = overview.base_backups_to_remove, overview.wal_files_to_remove
        if count or reports or bases or wal:
            text = f"PLAN: remove {count} set(s)" + (f", {bases} base backup(s)" if bases else "")
            text += (f", {wal} WAL file(s)" if wal else "") + (f", {reports} report(s)" if reports else "")
            text += f", {size(plans.freed_bytes)} freed; `a` applies"
        else:
            text = "CLEAN: nothing to remove"
        text += f" | offsite: {plans.offsite_status} | lifecycle: {overview.lifecycle_status}"
        self._set_summary(text, "-pending" if count or reports or bases or wal else "-clean")
        kinds = self.query_one("#retention-kinds", DataTable)
        actions = self.query_one("#retention-actions", DataTable)
        with self.app.batch_update():
            kinds.clear()
            reports = overview.reports
            shown = overview.kinds + overview.pitr + ([reports] if reports is not None and reports.local_count else [])
            for state in shown:  # the reports row only once the first `verify` has written one
                plan = f"remove {state.to_remove}" if state.to_remove else "keep all"
                if state.to_transition:
                    plan += f" +{state.to_transition} arch"
                kinds.add_row(state.kind, str(state.local_count), plan, size(state.local_bytes),
                              "-" if state.s3_bytes is None else size(state.s3_bytes),
                              _day(state.newest), state.next_expiry or "-", key=state.kind)
            actions.clear()
            rows = [("REMOVE", d, f"{d.rule}: {d.reasons[0]}") for d in plans.local.remove]
            if plans.offsite is not None:
                rows += [("REMOVE S3", d, f"{d.rule}: {d.reasons[0]}") for d in plans.offsite.remove]
                rows += [("ARCHIVE", d, d.reasons[0]) for d in plans.offsite.transition]
            rows += [("REMOVE", d, f"{d.rule}: {d.reasons[0]}") for d in plans.base_removals]
            rows += [("REMOVE", d, f"{d.rule}: through {d.subject.last}, {d.reasons[0]}") for d in plans.wal_removals]
            rows += [("REMOVE", d, f"{d.rule}: {d.reasons[0]}") for d in plans.report_removals]
            for index, (action, decision, why) in enumerate(rows):
                label = f"WAL {decision.subject.first}" if decision in plans.wal_removals else decision.set_id
                actions.add_row(action, label, f"{decision.age_days:.1f} d", size(decision.size_bytes), why,
                                key=f"{index}:{decision.set_id}")
        if isinstance(self.focused, DataTable):
            self._describe(self.focused)
        self.refresh_bindings()

    def action_apply(self) -> None:
        if self.app.settings.read_only:  # type: ignore[attr-defined]
            self.notify("refused: retention apply is not allowed in read-only mode", title="retention", severity="error")
            return
        if self.overview is None or self._busy:
            return
        plans = self.overview.plans
        sets, reports = self.overview.sets_to_remove, self.overview.reports_to_remove
        bases, wal = self.overview.base_backups_to_remove, self.overview.wal_files_to_remove
        count = sets + reports + bases + wal  # one typed number confirms the whole deletion, as `--yes` does
        if not count:
            self.notify("nothing to remove", title="retention")
            return
        freed = size(plans.freed_bytes)
        parts = [f"{sets} backup set(s)"] + ([f"{bases} base backup(s)"] if bases else [])
        parts += [f"{wal} WAL file(s)"] if wal else []
        parts += [f"{reports} verification report(s)"] if reports else []
        what = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]

        def answered(text: str | None) -> None:
            if text is None:
                return
            if text.strip() != str(count):
                self.notify(f"not applied: you typed '{text}', the plan removes {count}", title="retention",
                            severity="warning")
                return
            self._busy = True
            self._set_summary(f"deleting {what}...", "-busy")
            self.refresh_bindings()
            self._apply(sets, reports, bases, wal)

        listed = [f"{d.set_id}  ({d.rule})" for d in plans.removals[:8]]
        listed += [f"{d.set_id}  ({d.rule})" for d in plans.base_removals[:max(0, 8 - len(listed))]]
        listed += [f"WAL {d.subject.label}  ({d.subject.count} file(s))" for d in plans.wal_removals[:max(0, 8 - len(listed))]]
        listed += [f"{d.name}  ({d.rule})" for d in plans.report_removals[:max(0, 8 - len(listed))]]
        self.app.push_screen(TextPromptModal("Apply retention", f"Type {count} to delete {what} ({freed}):", listed),
                             answered)

    @work(thread=True, exclusive=True, exit_on_error=False, group="retention-apply", description="retention apply")
    def _apply(self, expected_sets: int, expected_reports: int, expected_bases: int, expected_wal: int) -> None:
        from console.retention.apply import apply_retention

        app = self.app
        _plans, result = apply_retention(app.settings, now=app.clock(), expected_sets=expected_sets,  # type: ignore[attr-defined]
                                         expected_reports=expected_reports, expected_bases=expected_bases,
                                         expected_wal_files=expected_wal)
        self.post_message(RetentionApplied(result))

    @on(RetentionApplied)
    def _applied(self, message: RetentionApplied) -> None:
        result = message.result
        severity = "warning" if result.errors else "information"
        text = f"removed {len(result.deleted)} set(s)"
        if result.deleted_bases:
            text += f", {len(result.deleted_bases)} base backup(s)"
        if result.deleted_wal_files:
            text += f", {result.deleted_wal_files} WAL file(s)"
        if result.deleted_reports:
            text += f" and {len(result.deleted_reports)} report(s)"
        text += f", {size(result.freed_bytes)} freed"
        if result.errors:
            text += f"; {len(result.errors)} failed: {result.errors[0]}"
        self.notify(text, title="retention", severity=severity)
        self.action_reload()

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.group in ("retention", "retention-apply"):
            self._busy = False
            error = event.worker.error
            self._set_summary(f"ERROR: {getattr(error, 'message', None) or error}", "-error")
            self.refresh_bindings()

    def _set_summary(self, text: str, state: str) -> None:
        summary = self.query_one("#retention-summary", Static)
        summary.update(text)
        summary.set_classes(state)
