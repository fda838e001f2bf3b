"""TroubleshootScreen: the manual's common issues from the live systems, each with its evidence:
long-running transactions (terminate one after typing its pid), BACKUP_DIR usage, Redis
persistence and the AOF fallback."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Mapping

from textual import on, work
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Static

from console import troubleshoot
from console.errors import ConsoleError
from console.formatting import size
from screens import keys
from screens.text_prompt import TextPromptModal
from screens.widgets.key_line import KeyLine
from screens.widgets.title_line import TitleLine
from themes import THEMES_DIR

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from console.troubleshoot import Diagnosis

SECTIONS = ("transactions", "disk", "redis")


class DiagnosisReady(Message):
    def __init__(self, key: str, diagnosis: Diagnosis | None, error: str | None = None) -> None:
        super().__init__()
        self.key = key
        self.diagnosis = diagnosis
        self.error = error


def _runner(key: str) -> Callable[..., Diagnosis]:
    return {"transactions": troubleshoot.long_transactions, "disk": troubleshoot.disk_usage,
            "redis": troubleshoot.redis_persistence, "terminate": troubleshoot.terminate_backend}[key]


class TroubleshootScreen(Screen[None]):
    CSS_PATH = THEMES_DIR / "troubleshoot.tcss"

    HELP = """\
## Troubleshooting
The manual's common issues, read from the live systems; each block shows the evidence it used
and what to do. Long-running transactions are listed in the table: select one and press `x`,
then type its pid to terminate it (pg_terminate_backend; refused in read-only mode). `r` looks
again.
"""

    BINDINGS = [
        keys.bind("back", "app.pop_screen", id="back"),
        keys.bind("refresh", "reload", "Re-check", id="recheck", tooltip="Run every diagnosis again"),
        keys.bind("cancel", "terminate", "Terminate", id="terminate-backend",
                tooltip="Terminate the selected transaction's backend (type its pid)"),
    ]

    def __init__(self, runners: Mapping[str, Callable[..., Diagnosis]] | None = None) -> None:
        """``runners`` replaces console.troubleshoot's diagnoses by key (snapshot tests pass fixed ones)."""
        super().__init__()
        self.runners = runners

    def compose(self) -> ComposeResult:
        yield TitleLine()
        with VerticalScroll(id="troubleshoot-body"):
            for key in SECTIONS:
                yield Static(f"{key}: checking...", id=f"diagnosis-{key}", classes="diagnosis", markup=False)
                if key == "transactions":
                    yield DataTable(id="troubleshoot-transactions", cursor_type="row", zebra_stripes=True)
                yield Static("", id=f"detail-{key}", classes="diagnosis-detail", markup=False)
        yield KeyLine()

    def on_mount(self) -> None:
        self.sub_title = "Troubleshooting" + (" | READ-ONLY" if self.app.settings.read_only else "")  # type: ignore[attr-defined]
        table = self.query_one("#troubleshoot-transactions", DataTable)
        for label in ("pid", "age", "user", "application", "state", "query"):
            table.add_column(label, key=label)
        table.focus()
        self.action_reload()

    def action_reload(self) -> None:
        for key in SECTIONS:
            self.query_one(f"#diagnosis-{key}", Static).update(f"{key}: checking...")
            self._diagnose(key)

    @work(thread=True, exit_on_error=False, group="troubleshoot")
    def _diagnose(self, key: str, *args: object) -> None:
        settings = self.app.settings  # type: ignore[attr-defined]
        run = self.runners[key] if self.runners is not None else _runner(key)
        try:
            diagnosis = run(settings, *args)
        except ConsoleError as exc:
            self.post_message(DiagnosisReady(key, None, exc.message))
            return
        self.post_message(DiagnosisReady(key, diagnosis))

    @on(DiagnosisReady)
    def _show(self, message: DiagnosisReady) -> None:
        if message.key == "terminate":
            if message.error:
                self.notify(message.error, title="terminate", severity="error")
            elif message.diagnosis is not None:
                self.notify(message.diagnosis.summary, title="terminate")
            self._diagnose("transactions")
            return
        head = self.query_one(f"#diagnosis-{message.key}", Static)
        detail = self.query_one(f"#detail-{message.key}", Static)
        diagnosis = message.diagnosis
        if diagnosis is None:
            head.update(f"{message.key}: ERROR: {message.error}")
            head.set_classes("diagnosis -error")
            detail.update("")
            return
        head.update(f"{diagnosis.title}: {diagnosis.status.upper()}: {diagnosis.summary}")
        head.set_classes(f"diagnosis -{diagnosis.status}")
        lines = [f"evidence: {line}" for line in diagnosis.evidence] + [f"advice: {line}" for line in diagnosis.advice]
        if message.key == "disk":
            lines += [f"{size(row['size_bytes']):>9}  {row['path']}" + ("" if row["recognised"] else "  (unrecognised)")
                      for row in diagnosis.rows]
        elif message.key == "redis":
            lines += [f"{row['field']}: {row['value']}" for row in diagnosis.rows]
        detail.update("\n".join(lines))
        if message.key == "transactions":
            table = self.query_one("#troubleshoot-transactions", DataTable)
            table.clear()
            for row in diagnosis.rows:
                table.add_row(str(row["pid"]), f"{row['age_seconds']:.0f} s", row["user"], row["application"],
                              row["state"], row["query"], key=str(row["pid"]))

    def action_terminate(self) -> None:
        if self.app.settings.read_only:  # type: ignore[attr-defined]
            self.notify("refused: terminating a backend is not allowed in read-only mode", title="terminate",
                        severity="error")
            return
        table = self.query_one("#troubleshoot-transactions", DataTable)
        if not table.row_count:
            self.notify("no long-running transaction listed", title="terminate")
            return
        row = table.get_row_at(table.cursor_row)
        pid = str(row[0])

        def answered(text: str | None) -> None:
            if text is None:
                return
            if text.strip() != pid:
                self.notify(f"not terminated: you typed '{text}', not {pid}", title="terminate", severity="warning")
                return
            self._diagnose("terminate", int(pid))

        self.app.push_screen(TextPromptModal("Terminate backend", f"Type {pid} to terminate this backend:",
                                             [f"pid {pid}, open {row[1]}, {row[2]} / {row[3]}", f"query: {row[5]}"]),
                             answered)
