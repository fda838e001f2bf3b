"""Alerts: critical monitoring findings sent to a webhook (generic JSON or Slack-compatible),
at most once per ``alerts.repeat_minutes`` each, and a "resolved" message when one clears.

What was sent is remembered in ``BACKUP_DIR/.alerts/state.json`` (rewritten atomically), so
cron runs of ``monitor`` every few minutes do not repeat themselves. The webhook URL is a
secret: it is never put in a message, an error or a log line; failures name only the HTTP
status or the kind of network error.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from console import jsondoc
from console.artifacts import write_json_atomic
from console.errors import LockHeld
from console.lock import BackupLock
from console.monitor import ALERT_CATEGORIES, Finding
from console.root import BackupRoot

if TYPE_CHECKING:
    from console.config import Settings

BACKOFF_SECONDS = 0.5


@dataclass(frozen=True)
class Delivery:
    alert_id: str
    event: str
    """"firing" or "resolved"."""
    ok: bool
    attempts: int
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"alert_id": self.alert_id, "event": self.event, "ok": self.ok, "attempts": self.attempts,
                "error": self.error}


def alertable(findings: list[Finding]) -> dict[str, Finding]:
    return {f.id: f for f in findings if f.alerting and f.category in ALERT_CATEGORIES}


def body(settings: Settings, event: str, alert_id: str, entry: dict[str, Any], now: float) -> dict[str, Any]:
    """The webhook payload for one alert, in the configured format."""
    host = socket.gethostname()
    if settings.alerts.format == "slack":
        icon = ":rotating_light:" if event == "firing" else ":white_check_mark:"
        text = f"{icon} *{event.upper()}* backup-console on {host}: {entry['message']}"
        if entry.get("evidence"):
            text += f"\n> {entry['evidence']}"
        return {"text": text}
    return {"source": "backup-console", "host": host, "status": event, "id": alert_id,
            "category": entry.get("category"), "severity": entry.get("severity"), "subject": entry.get("subject"),
            "message": entry.get("message"), "evidence": entry.get("evidence"),
            "time": datetime.fromtimestamp(now).astimezone().isoformat(timespec="seconds")}


def post_webhook(settings: Settings, payload: dict[str, Any]) -> tuple[bool, int, str | None]:
    """POST with a timeout and retries; returns (ok, attempts, error without the URL)."""
    import requests

    error: str | None = None
    attempts = max(1, settings.alerts.retries)
    for attempt in range(1, attempts + 1):
        try:
            response = requests.post(settings.alerts.webhook_url, json=payload, timeout=settings.alerts.timeout_seconds)
        except requests.Timeout:
            error = f"webhook timed out after {settings.alerts.timeout_seconds:g} s"
        except requests.RequestException as exc:
            error = f"webhook not reachable ({type(exc).__name__})"
        else:
            if 200 <= response.status_code < 300:
                return True, attempt, None
            error = f"webhook answered HTTP {response.status_code}"
            if 400 <= response.status_code < 500 and response.status_code != 429:
                return False, attempt, error  # the request is wrong; repeating it will not help
        if attempt < attempts:
            time.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
    return False, attempts, error


def load_state(backup_dir: Path) -> dict[str, dict[str, Any]]:
    try:
        data = jsondoc.loads(BackupRoot(backup_dir).alert_state.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    alerts = data.get("alerts") if isinstance(data, dict) else None
    return alerts if isinstance(alerts, dict) else {}


def save_state(backup_dir: Path, alerts: dict[str, dict[str, Any]]) -> None:
    write_json_atomic(BackupRoot(backup_dir).alert_state, {"alerts": alerts})


def process(
    settings: Settings,
    findings: list[Finding],
    now: float | None = None,
    send: Callable[[Settings, dict[str, Any]], tuple[bool, int, str | None]] = post_webhook,
) -> list[Delivery]:
    """Send what is newly firing (or due again), and "resolved" for what cleared; update the state.

    Does nothing without ``alerts.webhook_url``.
    """
    if not settings.alerts.webhook_url:
        return []

    now = time.time() if now is None else now
    try:
        lock = BackupLock(settings.backup_dir, "alerts", "alert delivery").acquire()
    except LockHeld:
        return []  # another monitor run is delivering right now
    try:
        return _process(settings, findings, now, send)
    finally:
        lock.release()


def _process(settings: Settings, findings: list[Finding], now: float,
             send: Callable[[Settings, dict[str, Any]], tuple[bool, int, str | None]]) -> list[Delivery]:
    state = load_state(settings.backup_dir)
    firing = alertable(findings)
    repeat = settings.alerts.repeat_minutes * 60
    deliveries: list[Delivery] = []
    for alert_id, finding in firing.items():
        entry = {**state.get(alert_id, {}), **finding.as_json()}
        entry.setdefault("first_seen", now)
        entry.pop("resolve_pending", None)
        last_sent = entry.get("last_sent")
        if last_sent is None or now - float(last_sent) >= repeat:
            ok, attempts, error = send(settings, body(settings, "firing", alert_id, entry, now))
            deliveries.append(Delivery(alert_id, "firing", ok, attempts, error))
            if ok:
                entry["last_sent"] = now
        state[alert_id] = entry
    for alert_id in [key for key in state if key not in firing]:
        entry = state[alert_id]
        if entry.get("last_sent") is None:
            del state[alert_id]  # never announced, so nothing to resolve
            continue
        ok, attempts, error = send(settings, body(settings, "resolved", alert_id, entry, now))
        deliveries.append(Delivery(alert_id, "resolved", ok, attempts, error))
        if ok:
            del state[alert_id]
        else:
            entry["resolve_pending"] = True
    save_state(settings.backup_dir, state)
    return deliveries
