"""ReportScreen: one verification report; its sets, failed first, and the checks of the highlighted set."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on, work
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from console.errors import one_line
from console.verify.reports import load_report
from screens import keys
from screens.set_detail import SetDetailScreen
from screens.widgets.key_line import KeyLine
from screens.widgets.title_line import TitleLine
from themes import THEMES_DIR

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from console.verify.model import SetVerification, VerifyReport

SYMBOLS = {"passed": "✓ PASS", "failed": "✗ FAIL", "warning": "⚠ WARN", "skipped": "- SKIP"}
ORDER = {"failed": 0, "warning": 1, "passed": 2}


class ReportLoaded(Message):
    def __init__(self, report: VerifyReport) -> None:
        super().__init__()
        self.report = report


def first_reason(item: SetVerification) -> str:
    for status in ("failed", "warning"):
        for outcome in item.checks:
            if outcome.status == status:
                return outcome.message
    return f"{len(item.checks)} check(s) passed"


class ReportScreen(Screen[None]):
    CSS_PATH = THEMES_DIR / "reports.tcss"

    HELP = """\
## Verification report
The sets this run verified, failed first, with the first reason. The lower pane lists every
check of the highlighted set (failed first): the file, the check and what was found.
Enter opens the set: its files with sizes and SHA-256, its metadata and its S3 keys.
"""

    BINDINGS = [
        keys.bind("back", "app.pop_screen", id="back"),
        keys.bind("open", "open_set", "Set detail", id="open-set", tooltip="Files, metadata and S3 keys of this set"),
    ]

    def __init__(self, report_name: str) -> None:
        super().__init__()
        self.report_name = report_name
        self.report: VerifyReport | None = None
        self.ordered: list[SetVerification] = []

    def compose(self) -> ComposeResult:
        yield TitleLine()
        yield Static("loading...", id="report-summary", markup=False)
        yield DataTable(id="report-sets", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="report-checks-scroll"):
            yield Static("", id="report-checks", markup=False)
        yield KeyLine()

    def on_mount(self) -> None:
        self.sub_title = self.report_name
        table = self.query_one("#report-sets", DataTable)
        for label in ("status", "set", "fail", "warn", "reason"):
            table.add_column(label, key=label)
        table.focus()
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="report-load")
    def _load(self) -> None:
        self.post_message(ReportLoaded(load_report(self.app.settings, self.report_name)))  # type: ignore[attr-defined]

    @on(ReportLoaded)
    def _show(self, message: ReportLoaded) -> None:
        self.report = report = message.report
        # worst first, and within a state newest first (as every list of sets here)
        newest_first = sorted(report.sets, key=lambda item: (item.timestamp, item.set_id), reverse=True)
        self.ordered = sorted(newest_first, key=lambda item: ORDER.get(item.status, 3))
        counts = report.counts
        summary = self.query_one("#report-summary", Static)
        summary.update(f"{report.status.upper()}: {counts['passed']} passed, {counts['failed']} failed, "
                       f"{counts['warning']} warnings, {counts['skipped']} skipped in {len(report.sets)} set(s)"
                       f"{' (deep)' if report.deep else ''}; {report.finished_at[:19].replace('T', ' ')}")
        summary.set_class(report.status == "failed", "-failed")
        summary.set_class(report.status != "failed", "-passed")
        table = self.query_one("#report-sets", DataTable)
        with self.app.batch_update():
            table.clear()
            for item in self.ordered:
                counts = item.counts
                table.add_row(SYMBOLS.get(item.status, item.status), item.set_id, str(counts["failed"]),
                              str(counts["warning"]), first_reason(item), key=item.set_id)
        self._show_checks(0)

    @on(DataTable.RowHighlighted, "#report-sets")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_checks(event.cursor_row)

    def _show_checks(self, row: int) -> None:
        pane = self.query_one("#report-checks", Static)
        if not self.ordered or row >= len(self.ordered):
            pane.update("no sets in this report")
            return
        item = self.ordered[row]
        lines = [f"{item.set_id} ({item.status.upper()})"]
        for outcome in item.failed_first():
            lines.append(f"{SYMBOLS.get(outcome.status, outcome.status)} {outcome.file or '-'} [{outcome.check}]")
            lines.append(f"    {outcome.message}")
        pane.update("\n".join(lines))

    def action_open_set(self) -> None:
        table = self.query_one("#report-sets", DataTable)
        if not self.ordered or table.cursor_row is None:
            return

        self.app.push_screen(SetDetailScreen(self.ordered[table.cursor_row]))

    @on(DataTable.RowSelected, "#report-sets")
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.action_open_set()

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return

        error = event.worker.error
        text = one_line(error)
        summary = self.query_one("#report-summary", Static)
        summary.add_class("-failed")
        summary.update(f"ERROR: {text}")
