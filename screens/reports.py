"""ReportsScreen: verification reports newest first; enter opens one, `v` verifies now."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on, work
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from console.errors import one_line
from console.formatting import duration
from console.progress import CancelToken, Throttle
from console.verify.reports import list_reports
from screens import keys
from screens.report_view import ReportScreen
from screens.widgets.key_line import KeyLine
from screens.widgets.text_bar import TextBar
from screens.widgets.title_line import TitleLine
from themes import THEMES_DIR

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from console.progress import ProgressEvent
    from console.verify.model import VerifyReport
    from console.verify.reports import ReportSummary


class ReportsLoaded(Message):
    def __init__(self, summaries: list[ReportSummary]) -> None:
        super().__init__()
        self.summaries = summaries


class VerifyProgressed(Message):
    def __init__(self, event: ProgressEvent) -> None:
        super().__init__()
        self.event = event


class VerifyFinished(Message):
    def __init__(self, report: VerifyReport) -> None:
        super().__init__()
        self.report = report


STATUS_WORDS = {"passed": "PASSED", "failed": "FAILED", "warning": "WARNING"}


def when(iso: str) -> str:
    """``2026-11-25T02:00:07+00:00`` -> ``2026-11-25 02:00``."""
    return iso[:16].replace("T", " ") if iso else "-"


class ReportsScreen(Screen[None]):
    CSS_PATH = THEMES_DIR / "reports.tcss"

    HELP = """\
## Verification reports
Every `backup-console verify` run (from cron or from here), newest first: when it ran, its
status, the passed / failed / warning checks and how long it took. Enter opens a report: its
sets, failed first, each with the reasons.

`v` verifies every backup set now (in the background, with progress); `V` (shift+v) does the same with
the deep checks (restores into a scratch database and redis-server: slow); `r` reloads the list.
The text reports live in BACKUP_DIR/reports/backup_verification_<ts>.report.
"""

    BINDINGS = [
        keys.bind("back", "app.pop_screen", id="back"),
        keys.bind("verify", "verify_now", "Verify now", id="run-verify", tooltip="Verify every backup set now"),
        keys.bind("deep-verify", "verify_now(True)", "Deep verify", id="run-deep-verify",
                tooltip="Verify now, restoring into scratch databases and redis-servers (slow)"),
        keys.bind("refresh", "reload", "Reload", id="reload-reports", tooltip="Read the reports again"),
        keys.bind("open", "open_report", id="open-report", tooltip="The sets and checks of this report"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.summaries: list[ReportSummary] = []
        self.verifying = False
        self._cancel: CancelToken | None = None

    def compose(self) -> ComposeResult:
        yield TitleLine()
        yield Static("reading reports...", id="reports-status", markup=False)
        yield TextBar(id="verify-progress")
        yield DataTable(id="reports-table", cursor_type="row", zebra_stripes=True)
        yield KeyLine()

    def on_mount(self) -> None:
        self.sub_title = "Verification reports"
        table = self.query_one("#reports-table", DataTable)
        for label, width in (("time", 16), ("status", 7), ("passed", 6), ("failed", 6), ("warn", 5), ("sets", 5),
                             ("duration", 9)):
            table.add_column(label, key=label, width=width)
        table.focus()
        self.action_reload()

    def on_unmount(self) -> None:
        if self._cancel is not None:
            self._cancel.cancel()  # leaving the screen stops a running verification between checks

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "verify_now" and self.verifying:
            return None
        if action == "open_report" and not self.summaries:
            return None
        return True

    # --- loading -------------------------------------------------------------------------------

    def action_reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="reports-load")
    def _load(self) -> None:
        self.post_message(ReportsLoaded(list_reports(self.app.settings)))  # type: ignore[attr-defined]

    @on(ReportsLoaded)
    def _show(self, message: ReportsLoaded) -> None:
        self.summaries = message.summaries
        table = self.query_one("#reports-table", DataTable)
        with self.app.batch_update():
            table.clear()
            for item in self.summaries:
                table.add_row(when(item.finished_at), STATUS_WORDS.get(item.status, item.status.upper()),
                              str(item.passed), str(item.failed), str(item.warnings), str(item.sets),
                              duration(item.duration_seconds), key=item.name)
        if not self.verifying:
            self._status_line()
        self.refresh_bindings()

    def _status_line(self) -> None:
        status = self.query_one("#reports-status", Static)
        status.remove_class("-failed", "-passed", "-busy", "-error")
        if not self.summaries:
            status.update("NO REPORTS yet: press v to verify every backup set now")
            return
        last = self.summaries[0]
        word = STATUS_WORDS.get(last.status, last.status.upper())
        status.update(f"LAST {word} {when(last.finished_at)}: {last.failed} failed, {last.warnings} warnings "
                      f"in {last.sets} set(s); {len(self.summaries)} report(s)")
        status.add_class("-failed" if last.status == "failed" else "-passed")

    # --- verify now ----------------------------------------------------------------------------

    def action_verify_now(self, deep: bool = False) -> None:
        if self.verifying:
            return
        self.verifying = True
        status = self.query_one("#reports-status", Static)
        status.remove_class("-failed", "-passed", "-error")
        status.add_class("-busy")
        status.update(f"VERIFYING every backup set{' (deep)' if deep else ''}...")
        bar = self.query_one("#verify-progress", TextBar)
        bar.update(total=None, progress=0)
        bar.add_class("-running")
        self.refresh_bindings()

        self._cancel = CancelToken()
        self._verify(deep, self._cancel)

    @work(thread=True, exclusive=True, exit_on_error=False, group="reports-verify")
    def _verify(self, deep: bool, cancel: CancelToken) -> None:
        from console.verify.run import verify

        progress = Throttle(lambda event: self.post_message(VerifyProgressed(event)), per_second=5)
        report = verify(self.app.settings, deep=deep, on_progress=progress, cancel=cancel)  # type: ignore[attr-defined]
        self.post_message(VerifyFinished(report))

    @on(VerifyProgressed)
    def _progressed(self, message: VerifyProgressed) -> None:
        event = message.event
        if event.phase != "verify":
            return
        bar = self.query_one("#verify-progress", TextBar)
        bar.update(total=event.total or None, progress=event.done)
        if event.message:
            self.query_one("#reports-status", Static).update(f"VERIFYING {event.message.removeprefix('checking ')}"
                                                             f" ({event.done + 1}/{event.total})")

    @on(VerifyFinished)
    def _finished(self, message: VerifyFinished) -> None:
        report = message.report
        self._end_verify()
        counts = report.counts
        self.notify(f"{report.status.upper()}: {counts['failed']} failed, {counts['warning']} warnings "
                    f"in {len(report.sets)} set(s)", title="verify",
                    severity="error" if report.status == "failed" else "information")
        self.action_reload()

    def _end_verify(self) -> None:
        self.verifying = False
        self.query_one("#verify-progress", TextBar).remove_class("-running")
        self.query_one("#reports-status", Static).remove_class("-busy")
        self.refresh_bindings()

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return

        error = event.worker.error
        text = one_line(error)
        if event.worker.group == "reports-verify":
            self._end_verify()
        status = self.query_one("#reports-status", Static)
        status.remove_class("-passed", "-failed", "-busy")
        status.add_class("-error")
        status.update(f"ERROR: {text}")

    # --- opening ------------------------------------------------------------------------------

    def action_open_report(self) -> None:
        table = self.query_one("#reports-table", DataTable)
        if not self.summaries or table.cursor_row is None:
            return
        name = self.summaries[table.cursor_row].name

        self.app.push_screen(ReportScreen(name))

    @on(DataTable.RowSelected, "#reports-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open_report()
