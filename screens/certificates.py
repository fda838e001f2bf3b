"""CertificatesScreen: every certificate under CERT_DIR, soonest expiry first, with its state in
words (EXPIRED / CRITICAL / WARN / OK) and colour, plus files that are not certificates."""

from __future__ import annotations

from datetime import timezone
from typing import TYPE_CHECKING

from textual import on, work
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from screens import keys
from screens.widgets.key_line import KeyLine
from screens.widgets.state_line import StateLine
from screens.widgets.title_line import TitleLine
from themes import THEMES_DIR

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from console.kinds.certs.inventory import Inventory

COLUMNS = (("state", 8), ("days", 5), ("expires", 10), ("name", 22), ("file", 19), ("key", 3))
"""Fixed widths: every column fits in 80 columns and widths never jump while rows refill."""


class CertificatesLoaded(Message):
    def __init__(self, inventory: Inventory) -> None:
        super().__init__()
        self.inventory = inventory


class CertificatesScreen(Screen[None]):
    CSS_PATH = THEMES_DIR / "certificates.tcss"

    HELP = """\
## Certificates
Every certificate under CERT_DIR (PEM bundles, DER, PKCS#12), soonest expiry first: its state,
days left, expiry date, name, file and whether its private key is in the set. WARN is within
`certs.warn_days`, CRITICAL within `certs.critical_days`. Files that are neither certificate nor
key are listed last as PROBLEM. The line under the table shows the highlighted row whole (the
columns cut long names, paths and problems at 80 columns). `r` reads the directory again; escape
goes back.
"""

    BINDINGS = [
        keys.bind("back", "app.pop_screen", id="back"),
        keys.bind("refresh", "reload", "Reload", id="reload-certificates", tooltip="Read CERT_DIR again"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.inventory: Inventory | None = None
        self._details: dict[str, str] = {}
        """Row key -> the row in full: the table's fixed columns cut long names, paths and problems."""

    def compose(self) -> ComposeResult:
        yield TitleLine()
        yield StateLine("reading certificates...", id="certs-summary")
        yield DataTable(id="certs-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="certs-detail", markup=False)
        yield KeyLine()

    def on_mount(self) -> None:
        self.sub_title = "Certificates"
        table = self.query_one(DataTable)
        for label, width in COLUMNS:
            table.add_column(label, key=label, width=width)
        table.focus()
        self.action_reload()

    def action_reload(self) -> None:
        self._summary.show("reading certificates...", "-busy")
        self._load()

    @work(thread=True, exclusive=True, group="certificates", exit_on_error=False)
    def _load(self) -> None:
        from console.kinds.certs.inventory import build_inventory, cert_dir_of

        app = self.app
        settings = app.settings  # type: ignore[attr-defined]
        now = app.clock().astimezone(timezone.utc)  # type: ignore[attr-defined]
        self.post_message(CertificatesLoaded(build_inventory(cert_dir_of(settings), settings, now=now)))

    @on(CertificatesLoaded)
    def _loaded(self, message: CertificatesLoaded) -> None:
        inventory = self.inventory = message.inventory
        table = self.query_one(DataTable)
        table.clear()
        self._details = {}
        for cert in sorted(inventory.certificates, key=lambda c: c.days_left):
            file = cert.file + (f"#{cert.index}" if cert.index else "")
            key = f"{file}:{cert.fingerprint_sha256}"
            name = cert.common_name or cert.subject
            table.add_row(cert.state.upper(), str(cert.days_left), cert.valid_to[:10], name,
                          file, "yes" if cert.key_matched else "-", key=key)
            self._details[key] = (f"{name} in {file}, expires {cert.valid_to[:10]} ({cert.days_left} days); "
                                  f"key: {cert.private_key_file or 'not in the set'}")
        for problem in inventory.problems:
            key = f"problem:{problem.file}:{problem.message}"
            table.add_row("PROBLEM", "", "", problem.message, problem.file, "", key=key)
            self._details[key] = f"PROBLEM {problem.file}: {problem.message}"
        self._describe(table)
        summary = inventory.summary()
        if not inventory.certificates:
            self._summary.show(f"no certificates under {inventory.cert_dir}", "-warn")
            return
        worst = inventory.worst_state
        soonest_days, soonest_name = summary["soonest_days"], summary["soonest_name"]
        if soonest_days < 0 or worst == "expired":
            soonest = f"{soonest_name} expired {-soonest_days} days ago" if soonest_days < 0 else f"{soonest_name} expired"
        else:
            soonest = f"next expiry in {soonest_days} days ({soonest_name})"
        text = (f"{worst.upper()}: {summary['count']} certificates, {summary['expired']} expired, "
                f"{summary['expiring_critical']} critical, {summary['expiring_warn']} warn; {soonest}")
        self._summary.show(text, {"ok": "-ok", "warn": "-warn"}.get(worst, "-down"))

    @on(DataTable.RowHighlighted, "#certs-table")
    def _row_highlighted(self) -> None:
        self._describe(self.query_one(DataTable))

    def _describe(self, table: DataTable[object]) -> None:
        """The highlighted row in full under the table."""
        text = ""
        if table.row_count and 0 <= table.cursor_row < table.row_count:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            text = self._details.get(str(key), "")
        self.query_one("#certs-detail", Static).update(text)

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            self._summary.show_error(event.worker.error, "certificates")

    @property
    def _summary(self) -> StateLine:
        return self.query_one("#certs-summary", StateLine)
