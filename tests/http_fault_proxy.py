"""A real HTTP proxy on loopback in front of an HTTP API (RabbitMQ's management API) that
injects the faults such an API shows in production.

A rule picks requests by method and a path fragment and answers them with: an HTTP error
(``status``), an HTML page with 200 (a login portal or a load balancer's page), a body cut short
(``cut``: Content-Length says more than is sent, then the connection closes) or no answer at all
(``hang``). Everything else is forwarded unchanged. Rules count what they served.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}


@dataclass
class HttpFault:
    method: str
    path: str
    """Matched as a substring of the request path."""
    mode: str
    """"status", "html", "cut" or "hang"."""
    status: int = 500
    times: int | None = None
    served: int = 0


@dataclass
class HttpFaultProxy:
    upstream: str
    rules: list[HttpFault] = field(default_factory=list)

    def __post_init__(self) -> None:
        parts = urlsplit(self.upstream)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.proxy = self  # type: ignore[attr-defined]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def fail(self, method: str, path: str, mode: str, status: int = 500, times: int | None = None) -> HttpFault:
        rule = HttpFault(method, path, mode, status, times)
        with self.lock:
            self.rules.append(rule)
        return rule

    def take(self, method: str, path: str) -> HttpFault | None:
        with self.lock:
            for rule in self.rules:
                if rule.method == method and rule.path in path and (rule.times is None or rule.served < rule.times):
                    rule.served += 1
                    return rule
        return None

    def close(self) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        return

    def _handle(self) -> None:
        proxy: HttpFaultProxy = self.server.proxy  # type: ignore[attr-defined]
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        rule = proxy.take(self.command, self.path)
        if rule is not None:
            return self._fault(rule, proxy)
        upstream = http.client.HTTPConnection(proxy.host, proxy.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        upstream.request(self.command, self.path, body=body or None, headers=headers)
        response = upstream.getresponse()
        data = response.read()
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        upstream.close()

    def _fault(self, rule: HttpFault, proxy: HttpFaultProxy) -> None:
        if rule.mode == "hang":
            proxy.closing.wait(120)
            self.close_connection = True
            return
        if rule.mode == "status":
            data = b'{"error":"injected","reason":"fault proxy"}'
            self.send_response(rule.status)
            self.send_header("content-type", "application/json")
        elif rule.mode == "html":
            data = b"<html><body><h1>Sign in</h1><form>...</form></body></html>"
            self.send_response(200)
            self.send_header("content-type", "text/html")
        else:  # cut: promise a long body, send its start, then drop the connection
            data = b'{"rabbit_version":"3.12","users":[{"name":"a'
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data) + 100_000))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            time.sleep(0.05)
            self.close_connection = True
            return
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = _handle
