"""ServicePanel: one instance of a service: its state as a word and a colour, key metrics and its last backup."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from console.formatting import ago, metric_value
from console.instances import DEFAULT
from console.instances import label as instance_label

if TYPE_CHECKING:
    from console.probes import ProbeResult

TITLES = {"postgres": "PostgreSQL", "redis": "Redis", "rabbitmq": "RabbitMQ", "s3": "S3", "storage": "Storage",
          "certs": "Certificates"}

KEY_METRICS: dict[str, list[tuple[str, str]]] = {
    "postgres": [("database_size_bytes", "size"), ("archive_mode", "archiving"), ("archive_failed_count", "failed"),
                 ("longest_transaction_seconds", "xact")],  # connections are in the detail line
    "redis": [("used_memory_bytes", "memory"), ("keys", "keys"), ("rdb_last_bgsave_status", "bgsave"),
              ("aof_enabled", "aof"), ("rdb_changes_since_last_save", "unsaved changes")],
    "rabbitmq": [("nodes_running", "nodes"), ("queues", "queues"), ("messages_ready", "ready"),
                 ("messages_unacknowledged", "unacked")],
    "s3": [("bucket", "bucket"), ("region", "region"), ("storage_class", "class")],
    "storage": [("free_bytes", "free"), ("backups_bytes", "backups"), ("free_pct", "free %")],
    "certs": [("count", "certs"), ("soonest_days", "next expiry (days)"), ("expired", "expired")],
}

SHOWN_WHEN_NONZERO = {"archive_failed_count"}
"""Counters that only earn a place on the narrow panel when there is something to see."""

BACKUP_KIND_OF_SERVICE = {"postgres": "postgres", "redis": "redis", "rabbitmq": "rabbitmq", "certs": "certs"}

STATE_WORDS = {"up": "UP", "degraded": "DEGRADED", "down": "DOWN", "timeout": "TIMEOUT", "unconfigured": "OFF"}


def window_line(metrics: Any, now: float | None = None) -> str | None:
    """PostgreSQL's recovery window, short enough for the panel (the PITR screen has it in full)."""
    window = metrics.get("recovery_window") or {}
    if not window.get("end_timestamp"):
        return None
    start = datetime.fromtimestamp(window["start_timestamp"])
    end = datetime.fromtimestamp(window["end_timestamp"])
    end_text = end.strftime("%H:%M" if end.date() == start.date() else "%m-%d %H:%M")
    lag = max(0.0, (time.time() if now is None else now) - window["end_timestamp"])
    lag_text = (f"{lag:.0f}s" if lag < 90 else f"{lag / 60:.0f}m" if lag < 5400
                else f"{lag / 3600:.1f}h" if lag < 172800 else f"{lag / 86400:.0f}d")
    gap = " GAP " + window["first_gap"] if window.get("first_gap") else ""
    return f"PITR {start:%m-%d %H:%M}→{end_text}, {lag_text} behind{gap}"


class ServicePanel(Static, can_focus=True):
    """Shows a ProbeResult; CSS classes -up/-degraded/-down/-timeout/-unconfigured/-pending colour it."""

    result: reactive[ProbeResult | None] = reactive(None, layout=True)
    last_backup_age: reactive[float | None] = reactive(None)
    running: reactive[str | None] = reactive(None)
    compact: reactive[bool] = reactive(False)
    """Two lines at 80x24: detail, then a running backup or the key figures (the Backups panel has the ages)."""

    def __init__(self, name: str, instance: str = DEFAULT, tags: str = "", grouped: bool = False, **kwargs: Any) -> None:
        """``grouped``: one of several instances under their kind's group title (the panel is titled by its name)."""
        panel_id = f"panel-{name}" if instance == DEFAULT else f"panel-{name}-{instance}"
        super().__init__(id=panel_id, classes="service-panel -pending", **kwargs)
        self.service = name
        self.instance = instance
        self.tags = tags
        """``env=prod team=data``: in the title when there is room."""
        self.name_title = instance if grouped else " ".join(
            part for part in (TITLES.get(name, name), "" if instance == DEFAULT else instance) if part)
        self.border_title = self.name_title
        self.border_subtitle = "..."
        self.has_backups = name in BACKUP_KIND_OF_SERVICE

    @property
    def label(self) -> str:
        """``postgres``, ``postgres/analytics``: the probe result's label this panel shows."""
        return instance_label(self.service, self.instance)

    def on_resize(self) -> None:
        """Tags join the name in the title when they fit on the top border."""
        with_tags = f"{self.name_title}  {self.tags}" if self.tags else self.name_title
        self.border_title = with_tags if len(with_tags) + 6 <= self.outer_size.width else self.name_title

    def watch_result(self, result: ProbeResult | None) -> None:
        shown = result.state.value if result else "pending"
        # One change of classes, none when the state is the same: each change applies the stylesheet to the
        # panel again (taking the old state off, then putting the new one on, did it twice on every result).
        self.update_classes({f"-{state}": state == shown for state in (*STATE_WORDS, "pending", shown)})
        self.border_subtitle = STATE_WORDS[result.state.value] if result else "..."
        self._redraw()

    def _window_line(self) -> str | None:
        return window_line(self.result.metrics) if self.result else None

    def watch_compact(self) -> None:
        self._redraw()

    def watch_last_backup_age(self) -> None:
        self._redraw()

    def watch_running(self, running: str | None) -> None:
        self.set_class(running is not None, "-busy")
        self._redraw()

    def _redraw(self) -> None:
        self.update(self.body())

    def body(self) -> Text:
        result = self.result
        text = Text(no_wrap=True, overflow="ellipsis")
        if result is None:
            text.append("checking...")
            return text
        window_line = self._window_line()
        # the panel has three lines: an up server's version line gives way to the recovery window
        text.append(window_line if window_line and result.state.value == "up" else result.detail)
        metrics = [(label, result.metrics[key], key) for key, label in KEY_METRICS.get(self.service, [])
                   if result.metrics.get(key) is not None
                   and (key not in SHOWN_WHEN_NONZERO or result.metrics[key])]
        if self.compact and self.running:
            text.append("\nbackup running: " + self.running, style="bold")
            return text
        if metrics:
            text.append("\n")
            text.append("  ".join(f"{label} {metric_value(key, value)}" for label, value, key in metrics[:3]))
        if self.compact:
            return text
        if self.running:
            text.append("\nbackup running: " + self.running, style="bold")
        elif self.has_backups:
            text.append("\nlast backup: " + (ago(self.last_backup_age) if self.last_backup_age is not None else "never"))
        return text
