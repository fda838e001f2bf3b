"""FleetScreen: every backup host's targets, as their fleet records in the bucket say
(``console.fleet_view``): host, target, last result, age of the newest set, its verification and
the state in words (OK / FAILED / STALE), so a stale row reads as stale without colour."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on, work
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable
from textual.worker import Worker, WorkerState

from console.formatting import short_ago
from screens import keys
from screens.lines_view import LinesModal
from screens.widgets.key_line import KeyLine
from screens.widgets.state_line import StateLine
from screens.widgets.title_line import TitleLine
from themes import THEMES_DIR

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from console.fleet_view import FleetTarget, FleetView

COLUMNS = (("host", 12), ("target", 20), ("result", 9), ("age", 7), ("verified", 10), ("state", 6))
"""Fixed widths: the table fits 80 columns and widths never jump while rows refill."""


class FleetLoaded(Message):
    def __init__(self, view: FleetView) -> None:
        super().__init__()
        self.view = view


def state_word(target: FleetTarget) -> str:
    """STALE first (the row's news is "nothing arrives"), then FAILED for a failed run or verification."""
    if target.stale:
        return "STALE"
    return "FAILED" if target.problems else "OK"


class FleetScreen(Screen[None]):
    CSS_PATH = THEMES_DIR / "fleet.tcss"

    HELP = """\
## Fleet
Every backup host that publishes to this bucket (`<s3.prefix>/_fleet/<host>/`), one row per target:
the host, the target (`kind[/instance][/database]`), its last run's result, the age of its newest
set, that set's verification and the state in words. STALE: a scheduled target whose newest set is
older than its host's `alerts.stale_hours`, or a host that stopped publishing (named in the summary
line); FAILED: the last run or the newest set's verification failed. Enter shows why. `r` reads
the bucket again; escape goes back. `backup-console status --fleet` prints the same.
"""

    BINDINGS = [
        keys.bind("back", "app.pop_screen", id="back"),
        keys.bind("refresh", "reload", "Reload", id="reload-fleet", tooltip="Read the fleet records again"),
        keys.bind("open", "open_target", "Why", id="open-fleet-target", tooltip="The highlighted target's record"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.view: FleetView | None = None

    def compose(self) -> ComposeResult:
        yield TitleLine()
        yield StateLine("reading the fleet records...", id="fleet-summary")
        yield DataTable(id="fleet-table", cursor_type="row", zebra_stripes=True)
        yield KeyLine()

    def on_mount(self) -> None:
        self.sub_title = "Fleet"
        table = self.query_one(DataTable)
        for label, width in COLUMNS:
            table.add_column(label, key=label, width=width)
        table.focus()
        self.action_reload()

    def action_reload(self) -> None:
        self._summary.show("reading the fleet records...", "-busy")
        self._load()

    @work(thread=True, exclusive=True, group="fleet", exit_on_error=False)
    def _load(self) -> None:
        from console.fleet_view import read_fleet

        app = self.app
        now = app.clock().timestamp()  # type: ignore[attr-defined]
        self.post_message(FleetLoaded(read_fleet(app.settings, now=now)))  # type: ignore[attr-defined]

    @on(FleetLoaded)
    def _loaded(self, message: FleetLoaded) -> None:
        view = self.view = message.view
        table = self.query_one(DataTable)
        table.clear()
        for host in view.hosts:
            for target in host.targets:
                result = target.result if target.result == "ok" else target.result.upper()
                verification = "FAILED" if target.verification == "failed" else target.verification
                table.add_row(host.name, target.label, result, short_ago(target.age_seconds), verification,
                              state_word(target), key=f"{host.name}/{target.label}")
        stale_hosts = [host.name for host in view.hosts if host.stale]
        text = view.summary() + (f"; silent: {', '.join(stale_hosts)}" if stale_hosts else "")
        if not view.hosts:
            self._summary.show(text, "-warn")
        else:
            self._summary.show(text, "-ok" if view.ok else "-down")

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open_target()

    def action_open_target(self) -> None:
        if self.view is None:
            return
        table = self.query_one(DataTable)
        if not table.row_count:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        for host in self.view.hosts:
            for target in host.targets:
                if f"{host.name}/{target.label}" == key:
                    record = target.record
                    lines = [f"state: {target.state}", *(f"  {reason}" for reason in target.reasons)]
                    if host.stale:
                        lines.append(f"host: STALE: {host.reason}")
                    lines += [f"{name}: {record.get(name)}" for name in (
                        "host", "kind", "instance", "target", "result", "set_id", "set_time", "size_bytes",
                        "verification", "verified_at", "finished_at", "schedule", "stale_hours", "published_at")]
                    self.app.push_screen(LinesModal(f"{host.name}: {target.label}", lines))
                    return

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            self._summary.show_error(event.worker.error, "the fleet records")

    @property
    def _summary(self) -> StateLine:
        return self.query_one("#fleet-summary", StateLine)
