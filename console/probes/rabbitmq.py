"""RabbitMQ probe and management API client (requests).

Everything goes through the management HTTP API, so it works remotely and without docker.
When the API does not answer but the AMQP port does, the broker is ``degraded``, not down.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from console.errors import ServiceUnreachable
from console.probes.result import ProbeResult, ServiceState, Stopwatch
from console.redact import mask_url

if TYPE_CHECKING:
    import requests  # imported where a session is made: loading the probes must not cost its 0.05-0.1 s

    from console.config import RabbitMQSettings, Settings

AMQP_HEADER = b"AMQP\x00\x00\x09\x01"


def base_url(rs: RabbitMQSettings) -> str:
    return (rs.management_url or f"http://{rs.host}:{rs.management_port}").rstrip("/")


def redacted(url: str) -> str:
    """The URL with the password of any ``user:password@`` an operator put in management_url masked."""
    return mask_url(url)


class ManagementAPI:
    """A thin client: every call has a timeout, and failures become ServiceUnreachable."""

    def __init__(self, rs: RabbitMQSettings, timeout: float) -> None:
        import requests

        self.url = base_url(rs)
        self.shown_url = redacted(self.url)
        self.timeout = timeout
        self.session = requests.Session()
        self.session.auth = (rs.user, rs.password)
        self.session.headers["content-type"] = "application/json"

    def get(self, path: str) -> Any:
        response = self._request("GET", path)
        try:
            return response.json()
        except ValueError:  # an HTML login page or a proxy's error page answered with 200
            kind = response.headers.get("content-type", "no content type").split(";")[0]
            raise ServiceUnreachable(
                f"RabbitMQ API GET /api/{path.lstrip('/')} at {self.shown_url} answered {kind}, not JSON",
                hint="is management_url the management API itself (not a login portal or a proxy page)?") from None

    def put(self, path: str, body: Any) -> requests.Response:
        return self._request("PUT", path, json=body)

    def post(self, path: str, body: Any) -> requests.Response:
        return self._request("POST", path, json=body)

    def delete(self, path: str) -> requests.Response:
        return self._request("DELETE", path)

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        import requests

        url = f"{self.url}/api/{path.lstrip('/')}"
        try:
            response = self.session.request(method, url, timeout=(self.timeout, self.timeout), **kwargs)
        except requests.Timeout:
            raise ServiceUnreachable(f"RabbitMQ management API at {self.shown_url} timed out") from None
        except requests.ConnectionError:
            raise ServiceUnreachable(f"RabbitMQ management API at {self.shown_url} refused the connection",
                                     hint="is the management plugin on? rabbitmq-plugins enable rabbitmq_management") from None
        except requests.RequestException as exc:  # an answer cut short (ChunkedEncodingError), a bad redirect...
            raise ServiceUnreachable(f"RabbitMQ API {method} /api/{path.lstrip('/')} at {self.shown_url} failed: "
                                     f"{type(exc).__name__} (the answer was cut short or malformed)") from None
        if response.status_code == 401:
            raise ServiceUnreachable(f"wrong RabbitMQ credentials for user '{self.session.auth[0]}' (HTTP 401 from {self.shown_url})",  # type: ignore[index]
                                     hint="check RABBITMQ_USER / RABBITMQ_PASSWORD")
        if response.status_code >= 400:
            raise ServiceUnreachable(f"RabbitMQ API {method} /api/{path.lstrip('/')} failed: HTTP {response.status_code} {response.text[:120].strip()}")
        return response

    def close(self) -> None:
        self.session.close()


def vhost_path(vhost: str) -> str:
    return quote(vhost, safe="")


def amqp_answers(host: str, port: int, timeout: float) -> bool:
    """True when something on ``port`` speaks AMQP 0-9-1 (answers our protocol header)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(AMQP_HEADER)
            return bool(sock.recv(8))
    except OSError:
        return False


def probe(settings: Settings) -> ProbeResult:
    rs = settings.rabbitmq
    api = ManagementAPI(rs, settings.timeout_seconds)  # before the stopwatch: it imports requests the first time
    watch = Stopwatch()
    try:
        overview = api.get("overview")
        latency = watch.ms
        nodes = api.get("nodes?columns=name,running,mem_alarm,disk_free_alarm,mem_used,disk_free")
    except ServiceUnreachable as exc:
        timed_out = "timed out" in exc.message
        if "401" not in exc.message and amqp_answers(rs.host, rs.amqp_port, settings.timeout_seconds):
            return ProbeResult("rabbitmq", "rabbitmq", ServiceState.DEGRADED,
                               f"{exc.message}; AMQP answers on {rs.host}:{rs.amqp_port}", watch.ms)
        state = ServiceState.TIMEOUT if timed_out else ServiceState.DOWN
        return ProbeResult("rabbitmq", "rabbitmq", state, exc.message, watch.ms)
    finally:
        api.close()
    queue_totals = overview.get("queue_totals") or {}
    object_totals = overview.get("object_totals") or {}
    running = [node for node in nodes if node.get("running")]
    alarms = [f"{node['name']}: {kind}" for node in nodes for kind in ("mem_alarm", "disk_free_alarm") if node.get(kind)]
    metrics = {
        "version": overview.get("rabbitmq_version"),
        "cluster": overview.get("cluster_name"),
        "nodes_running": len(running),
        "nodes_total": len(nodes),
        "alarms": alarms,
        "queues": object_totals.get("queues", 0),
        "connections": object_totals.get("connections", 0),
        "consumers": object_totals.get("consumers", 0),
        "messages_ready": queue_totals.get("messages_ready", 0),
        "messages_unacknowledged": queue_totals.get("messages_unacknowledged", 0),
    }
    problems = []
    if len(running) < len(nodes):
        problems.append(f"{len(running)}/{len(nodes)} nodes running")
    if alarms:
        problems.append("alarm " + ", ".join(alarms))
    detail = f"RabbitMQ {metrics['version']}, {len(running)}/{len(nodes)} nodes, {metrics['queues']} queues"
    if problems:
        return ProbeResult("rabbitmq", "rabbitmq", ServiceState.DEGRADED, "; ".join(problems), latency, metrics)
    return ProbeResult("rabbitmq", "rabbitmq", ServiceState.UP, detail, latency, metrics)
