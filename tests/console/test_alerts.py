"""Alerts to a real HTTP server on loopback: sent once, de-duplicated, resolved; retries; secrecy."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from console import alerts
from console.cli import main
from console.monitor import Finding
from console.root import BackupRoot

SECRET_PATH = "/hooks/T000-secret-token"


class Receiver:
    """A webhook endpoint: records JSON bodies; can be told to fail the next N requests."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.fail_next = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length", 0))
                payload = self.rfile.read(length)
                if receiver.fail_next:
                    receiver.fail_next -= 1
                    self.send_response(503)
                else:
                    receiver.bodies.append(json.loads(payload))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{SECRET_PATH}"
        # shutdown() waits for the loop's next poll: the default 0.5 s was most of each test's teardown
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    monkeypatch.setattr(alerts, "BACKOFF_SECONDS", 0.01)


STALE = Finding("freshness:redis", "freshness", "critical", "redis", "redis backup is stale (2 days ago)",
                "newest redis/20261123_020000")


def test_alert_once_deduplicated_then_resolved(receiver, make_settings, backup_dir):
    settings = make_settings(**{"alerts.webhook_url": receiver.url, "alerts.repeat_minutes": 60})
    first = alerts.process(settings, [STALE], now=1000.0)
    assert [(d.event, d.ok) for d in first] == [("firing", True)]
    assert receiver.bodies[0]["status"] == "firing" and receiver.bodies[0]["id"] == "freshness:redis"
    assert receiver.bodies[0]["message"] == STALE.message

    assert alerts.process(settings, [STALE], now=1000.0 + 59 * 60) == []  # within repeat_minutes
    assert len(receiver.bodies) == 1
    again = alerts.process(settings, [STALE], now=1000.0 + 61 * 60)
    assert [d.event for d in again] == ["firing"] and len(receiver.bodies) == 2

    ok = Finding("freshness:redis", "freshness", "ok", "redis", "redis backed up 1 hour ago")
    resolved = alerts.process(settings, [ok], now=1000.0 + 62 * 60)
    assert [(d.event, d.ok) for d in resolved] == [("resolved", True)]
    assert receiver.bodies[-1]["status"] == "resolved"
    assert alerts.process(settings, [ok], now=1000.0 + 63 * 60) == []
    assert alerts.load_state(backup_dir) == {}


def test_warnings_and_non_alert_categories_are_not_sent(receiver, make_settings):
    settings = make_settings(**{"alerts.webhook_url": receiver.url})
    findings = [Finding("storage:backup_dir", "storage", "critical", "BACKUP_DIR", "not writable"),
                Finding("verification:redis", "verification", "warning", "redis", "warnings")]
    assert alerts.process(settings, findings, now=1.0) == []
    assert receiver.bodies == []


def test_retries_then_succeeds(receiver, make_settings):
    receiver.fail_next = 2
    settings = make_settings(**{"alerts.webhook_url": receiver.url, "alerts.retries": 3})
    [delivery] = alerts.process(settings, [STALE], now=1.0)
    assert delivery.ok and delivery.attempts == 3
    assert len(receiver.bodies) == 1


def test_failed_delivery_is_retried_next_run_and_url_never_shown(receiver, make_settings, backup_dir):
    receiver.fail_next = 2
    settings = make_settings(**{"alerts.webhook_url": receiver.url, "alerts.retries": 2})
    [delivery] = alerts.process(settings, [STALE], now=1.0)
    assert not delivery.ok and delivery.error == "webhook answered HTTP 503"
    [delivery] = alerts.process(settings, [STALE], now=2.0)  # not marked sent, so tried again
    assert delivery.ok
    assert "secret-token" not in BackupRoot(backup_dir).alert_state.read_text()


def test_unreachable_webhook_error_does_not_leak_url(make_settings):
    from tests.servers import free_port

    url = f"http://127.0.0.1:{free_port()}{SECRET_PATH}"
    settings = make_settings(**{"alerts.webhook_url": url, "alerts.retries": 1, "alerts.timeout_seconds": 1.0})
    [delivery] = alerts.process(settings, [STALE], now=1.0)
    assert not delivery.ok and "secret" not in delivery.error and "127.0.0.1" not in delivery.error


def test_slack_body(receiver, make_settings):
    settings = make_settings(**{"alerts.webhook_url": receiver.url, "alerts.format": "slack"})
    alerts.process(settings, [STALE], now=1.0)
    assert set(receiver.bodies[0]) == {"text"}
    assert receiver.bodies[0]["text"].startswith(":rotating_light: *FIRING* backup-console on ")
    assert STALE.message in receiver.bodies[0]["text"]


def test_monitor_command_sends_and_respects_no_alerts(receiver, backup_dir, tmp_path, capsys):
    config = tmp_path / "bc.yaml"
    config.write_text(f"backup_dir: {backup_dir}\nalerts:\n  webhook_url: {receiver.url}\n"
                      f"  scheduled_kinds: [rabbitmq]\n")
    assert main(["--config", str(config), "monitor", "--no-alerts"]) == 1
    assert receiver.bodies == []
    assert main(["--config", str(config), "monitor"]) == 1
    captured = capsys.readouterr()
    assert receiver.bodies[0]["id"] == "freshness:rabbitmq"
    assert "secret-token" not in captured.out + captured.err
    main(["--config", str(config), "config", "show"])
    assert "secret-token" not in capsys.readouterr().out
