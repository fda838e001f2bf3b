"""Human-readable sizes, ages and metric values (humanize), shared by the CLI and the TUI.

humanize (5 ms with gettext) is imported by the functions that use it: the console's first frame uses none.
"""

from __future__ import annotations

import datetime as dt
from typing import Any


def size(num_bytes: float | None) -> str:
    if num_bytes is None:
        return "?"
    import humanize

    return humanize.naturalsize(num_bytes, format="%.1f")


def ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    import humanize

    return humanize.naturaltime(dt.timedelta(seconds=max(0.0, seconds)))


def short_ago(seconds: float | None) -> str:
    """``ago`` in at most seven characters for narrow tables: "40s ago", "12m ago", "3h ago", "9d ago"."""
    if seconds is None:
        return "never"
    seconds = max(0.0, seconds)
    for unit, width in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= width:
            return f"{int(seconds // width)}{unit} ago"
    return f"{int(seconds)}s ago"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 60:
        return f"{seconds:.1f} s"
    import humanize

    return humanize.precisedelta(dt.timedelta(seconds=round(seconds)), minimum_unit="seconds", format="%0.0f")


def metric_label(key: str) -> str:
    """``database_size_bytes`` -> "database size"; ``connections_pct`` -> "connections %"."""
    for suffix, shown in (("_bytes", ""), ("_seconds", ""), ("_pct", " %"), ("_ms", " (ms)"), ("_at", " at")):
        if key.endswith(suffix):
            return key[: -len(suffix)].replace("_", " ") + shown
    return key.replace("_", " ")


def metric_value(key: str, value: Any) -> str:
    """Format a metric by the unit its key ends with (``_bytes``, ``_seconds``, ``_pct``, ``_ms``)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key.endswith("_bytes") and isinstance(value, (int, float)):
        return size(value)
    if key.endswith("_seconds") and isinstance(value, (int, float)):
        return duration(value)
    if key.endswith("_pct") and isinstance(value, (int, float)):
        return f"{value:.0f} %"
    if key.endswith("_ms") and isinstance(value, (int, float)):
        return f"{value:.0f} ms"
    if key.endswith("_at") and isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, int):
        import humanize

        return humanize.intcomma(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value) or "-"
    if isinstance(value, dict) and "summary" in value:  # a structured metric that words itself
        return str(value["summary"])
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
    return str(value)
