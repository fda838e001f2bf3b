"""ServiceDetailScreen: every metric of one service instance, re-probed on demand (scoped to that instance)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult

from screens import keys
from textual.screen import Screen
from textual.widgets import DataTable, Static

from console.formatting import metric_label, metric_value
from console.instances import DEFAULT
from screens.messages import ProbeFinished
from screens.widgets.key_line import KeyLine
from screens.widgets.service_panel import STATE_WORDS, TITLES
from screens.widgets.title_line import TitleLine

if TYPE_CHECKING:
    from console.probes import ProbeResult


class ServiceDetailScreen(Screen[None]):
    HELP = f"""\
## Service details
Every metric the probe collected, formatted. `{keys.key("refresh")}` probes this service again; on PostgreSQL,
`{keys.key("pitr")}` opens point-in-time recovery for this instance; escape goes back.
"""

    BINDINGS = [
        keys.bind("back", "app.pop_screen", id="back"),
        keys.bind("refresh", "reprobe", id="refresh", tooltip="Probe this service again"),
        keys.bind("pitr", "open_pitr", id="open-pitr", tooltip="PostgreSQL recovery window; restore to a moment"),
    ]

    def __init__(self, service: str, result: ProbeResult | None = None, instance: str = DEFAULT) -> None:
        super().__init__()
        self.service = service
        self.instance = instance
        self.result = result

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "open_pitr":  # for the cluster shown: its own base backups and WAL archive
            return self.service == "postgres"
        return True

    def action_open_pitr(self) -> None:
        self.app.open_screen("pitr", instance=self.instance)  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        yield TitleLine()
        yield Static(id="detail-summary")
        yield DataTable(id="detail-metrics", cursor_type="row", zebra_stripes=True)
        yield KeyLine()

    def on_mount(self) -> None:
        self.sub_title = " ".join(part for part in (TITLES.get(self.service, self.service),
                                                    "" if self.instance == DEFAULT else self.instance) if part)
        table = self.query_one(DataTable)
        table.add_column("metric", key="metric")
        table.add_column("value", key="value")
        self._show()
        table.focus()
        if self.result is None:
            self.action_reprobe()

    def _show(self) -> None:
        summary = self.query_one("#detail-summary", Static)
        table = self.query_one(DataTable)
        table.clear()
        result = self.result
        if result is None:
            summary.update("probing...")
            return
        checked = dt.datetime.fromtimestamp(result.checked_at).strftime("%H:%M:%S")
        latency = "-" if result.latency_ms is None else f"{result.latency_ms:.0f} ms"
        summary.update(f"{STATE_WORDS[result.state.value]}: {result.detail}\nchecked {checked}, latency {latency}")
        for key, value in result.metrics.items():
            table.add_row(metric_label(key), metric_value(key, value), key=key)

    def action_reprobe(self) -> None:
        self.query_one("#detail-summary", Static).update("probing...")
        self._probe()

    @work(thread=True, exclusive=True, group="detail-probe", exit_on_error=False)
    def _probe(self) -> None:
        settings = self.app.settings  # type: ignore[attr-defined]
        if self.instance != DEFAULT:
            settings = settings.for_instance(self.service, self.instance)
        results = self.app.prober(settings, [self.service], None)  # type: ignore[attr-defined]
        mine = [result for result in results if result.instance == self.instance]
        self.post_message(ProbeFinished((mine or results)[0]))

    @on(ProbeFinished)
    def _probed(self, message: ProbeFinished) -> None:
        self.result = message.result
        self._show()
