"""The RabbitMQ management API answering 500, 401, an HTML page, a body cut short or nothing,
through a real HTTP proxy in front of the machine's broker; credentials in the URL stay masked."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

import pytest
import requests

from tests.faults.conftest import CANARIES, ArgvWatcher, Console, canary_hits, count_fault
from tests.http_fault_proxy import HttpFaultProxy
from tests.servers import RABBIT_API, RABBIT_AUTH


@pytest.fixture
def proxy(rabbitmq_api: str) -> Iterator[HttpFaultProxy]:
    fault_proxy = HttpFaultProxy(RABBIT_API)
    yield fault_proxy
    fault_proxy.close()


@pytest.fixture
def console_mq(base_env: dict[str, str], proxy: HttpFaultProxy, rabbit_canary_user: str, rabbitmq_vhost: str,
               tmp_path: Path) -> Console:
    host_port = proxy.url.split("://", 1)[1]
    config = tmp_path / "backup-console.yaml"
    # The password sits in the URL as well: what an operator pasted from a browser bar.
    config.write_text(f"timeout_seconds: 2\nrabbitmq:\n  management_url: "
                      f"http://{rabbit_canary_user}:{CANARIES.rabbitmq}@{host_port}\n"
                      f"  vhost: {rabbitmq_vhost}\n  export_timeout_seconds: 2\n")
    requests.put(f"{RABBIT_API}/api/permissions/{quote(rabbitmq_vhost, safe='')}/{rabbit_canary_user}",
                 auth=RABBIT_AUTH, timeout=10, json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
    return Console({**base_env, "BACKUP_CONSOLE_CONFIG": str(config), "RABBITMQ_USER": rabbit_canary_user,
                    "RABBITMQ_PASSWORD": CANARIES.rabbitmq})


def _runs(backup_dir: Path) -> list[dict]:
    path = backup_dir / ".runs" / "runs.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


FAULTS = [
    pytest.param("status", 500, "HTTP 500", id="http-500"),
    pytest.param("status", 401, "wrong RabbitMQ credentials", id="http-401"),
    pytest.param("html", 200, "text/html, not JSON", id="html-200"),
    pytest.param("cut", 200, "cut short", id="body-cut-short"),
    pytest.param("hang", 0, "timed out", id="no-answer"),
]


@pytest.mark.parametrize(("mode", "status", "expected"), FAULTS)
def test_a_faulty_api_fails_the_backup_on_record_and_the_next_run_succeeds(
        console_mq: Console, proxy: HttpFaultProxy, backup_dir: Path, tmp_path: Path,
        mode: str, status: int, expected: str) -> None:
    rule = proxy.fail("GET", "/api/definitions", mode, status)
    with ArgvWatcher() as watcher:
        failed = console_mq.run("backup", "rabbitmq", "--json")
    count_fault()
    assert rule.served >= 1
    assert failed.code == 1, failed.err
    assert "Traceback" not in failed.err and "internal error" not in failed.err
    document = json.loads(failed.out)
    assert document["status"] == "failed" and expected in document["message"], document["message"]
    assert len(document["message"].splitlines()) == 1
    runs = _runs(backup_dir)
    assert runs and runs[-1]["status"] == "failed" and runs[-1]["kind"] == "rabbitmq"
    assert not [p for p in (backup_dir / "rabbitmq").rglob("*") if p.is_file()] if (backup_dir / "rabbitmq").exists() else True

    proxy.rules.clear()
    again = console_mq.run("backup", "rabbitmq", "--json")
    assert again.code == 0, again.err
    assert json.loads(again.out)["status"] == "ok"
    shown = console_mq.run("config", "show", "--json")
    assert shown.code == 0
    assert "********" in shown.out
    assert watcher.hits == []
    assert canary_hits(backup_dir, tmp_path / "tmp", tmp_path / "home", *console_mq.outputs) == []
