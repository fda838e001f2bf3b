"""A real HTTP proxy on loopback in front of the moto S3 server that injects S3's transient faults.

Rules pick requests by method, object key and (optionally) a query fragment such as
``partNumber=2``; a matching request is answered with an S3-style XML error (503 SlowDown,
503 ServiceUnavailable, 500 InternalError) or left without an answer until the client times
out, or forwarded with one byte of its body flipped (damage in transit that the client's
checksums must catch). Everything else is forwarded to moto unchanged, bodies streamed both ways. Each rule
counts what it served, so a test can prove the faults really happened.
"""

from __future__ import annotations

import http.client
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
              "expect"}
CHUNK = 64 * 1024
MESSAGES = {"SlowDown": "Please reduce your request rate.",
            "ServiceUnavailable": "Service is unable to handle request.",
            "InternalError": "We encountered an internal error. Please try again."}


@dataclass
class FaultRule:
    method: str
    key: str
    """The object key; matched against the end of the (unquoted) URL path."""
    times: int | None
    """How many matching requests get the fault; None: every one."""
    status: int = 503
    code: str = "SlowDown"
    stall_seconds: float = 0.0
    """Above 0: no answer at all for this long, then the connection is closed (a read timeout)."""
    query: str = ""
    corrupt: bool = False
    """Forward the request with the first byte of its body flipped instead of answering an error."""
    served: int = 0
    seen: int = 0
    """Matching requests, faulted or forwarded."""

    def matches(self, method: str, path: str, query: str) -> bool:
        return method == self.method and unquote(path).endswith("/" + self.key) and self.query in query


@dataclass
class FaultProxy:
    upstream: str
    rules: list[FaultRule] = field(default_factory=list)
    log: list[tuple[str, str, int]] = field(default_factory=list)
    """(method, path?query, status answered; 0 for a stall) of every request."""
    continued: list[str] = field(default_factory=list)
    """path?query of every request that asked for ``100 Continue`` before its body."""
    payload_hashes: list[tuple[str, str, str, bool]] = field(default_factory=list)
    """(method, path?query, its ``x-amz-content-sha256``, whether it carried an ``x-amz-checksum-*`` header)
    of every request."""

    def __post_init__(self) -> None:
        parts = urlsplit(self.upstream)
        self.upstream_host, self.upstream_port = parts.hostname or "127.0.0.1", parts.port or 80
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.proxy = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def fail(self, method: str, key: str, times: int | None = 1, status: int = 503, code: str = "SlowDown",
             query: str = "", stall_seconds: float = 0.0, corrupt: bool = False) -> FaultRule:
        rule = FaultRule(method, key, times, status, code, stall_seconds, query, corrupt)
        with self.lock:
            self.rules.append(rule)
        return rule

    def take(self, method: str, target: str) -> FaultRule | None:
        """The rule that faults this request, if any (and count it)."""
        parts = urlsplit(target)
        with self.lock:
            for rule in self.rules:
                if not rule.matches(method, parts.path, parts.query):
                    continue
                rule.seen += 1
                if rule.times is None or rule.served < rule.times:
                    rule.served += 1
                    return rule
        return None

    def record(self, method: str, target: str, status: int) -> None:
        with self.lock:
            self.log.append((method, target, status))

    def close(self) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()


_UNDECIDED = object()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ThreadingHTTPServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass

    @property
    def proxy(self) -> FaultProxy:
        return self.server.proxy  # type: ignore[attr-defined]

    def parse_request(self) -> bool:
        self._fault: object = _UNDECIDED
        return super().parse_request()

    def handle_expect_100(self) -> bool:
        # S3 answers an error before the body is sent: decide here, and say "100 Continue" only to forwarded ones.
        with self.proxy.lock:
            self.proxy.continued.append(self.path)
        self._fault = self.proxy.take(self.command, self.path)
        if self._fault is None or self._fault.corrupt:  # type: ignore[attr-defined]
            return super().handle_expect_100()
        return True

    def do_GET(self) -> None:
        self._handle()

    do_PUT = do_POST = do_HEAD = do_DELETE = do_GET

    def _handle(self) -> None:
        with self.proxy.lock:
            self.proxy.payload_hashes.append((self.command, self.path, self.headers.get("x-amz-content-sha256", ""),
                                              any(name.lower().startswith("x-amz-checksum-") for name in self.headers)))
        fault = self.proxy.take(self.command, self.path) if self._fault is _UNDECIDED else self._fault
        body_pending = "100-continue" not in self.headers.get("Expect", "").lower() or fault is None
        if fault is None or fault.corrupt:  # type: ignore[union-attr]
            self._forward(corrupt=fault is not None)
            return
        assert isinstance(fault, FaultRule)
        self.close_connection = True
        if fault.stall_seconds:
            self.proxy.record(self.command, self.path, 0)
            self.proxy.closing.wait(fault.stall_seconds)
            return
        if body_pending:  # read what the client sends anyway, so it reads our answer instead of a reset
            self._drain()
        self._answer_error(fault)

    def _answer_error(self, fault: FaultRule) -> None:
        request_id = uuid.uuid4().hex[:16].upper()
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{fault.code}</Code>'
                f"<Message>{MESSAGES.get(fault.code, fault.code)}</Message><RequestId>{request_id}</RequestId>"
                "</Error>").encode()
        self.send_response_only(fault.status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("x-amz-request-id", request_id)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.proxy.record(self.command, self.path, fault.status)

    def _drain(self) -> None:
        for _ in self._body_chunks():
            pass

    def _body_chunks(self):  # noqa: ANN202 - a generator of bytes
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return
                yield self.rfile.read(size)
                self.rfile.readline()
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining > 0:
            chunk = self.rfile.read(min(CHUNK, remaining))
            if not chunk:
                raise ConnectionError("client closed the connection mid-body")
            remaining -= len(chunk)
            yield chunk

    def _forward(self, corrupt: bool = False) -> None:
        proxy = self.proxy
        upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=60)
        try:
            chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in HOP_BY_HOP and not ((chunked or corrupt) and name.lower() == "content-length"):
                    upstream.putheader(name, value)
            if chunked or corrupt:  # rare for boto3; forwarded with its length once read
                body = b"".join(self._body_chunks())
                if corrupt and body:
                    body = bytes([body[0] ^ 0xFF]) + body[1:]
                upstream.putheader("Content-Length", str(len(body)))
                upstream.endheaders()
                upstream.send(body)
            else:
                upstream.endheaders()
                for chunk in self._body_chunks():
                    upstream.send(chunk)
            response = upstream.getresponse()
            self.send_response_only(response.status, response.reason)
            length = response.getheader("Content-Length")
            for name, value in response.getheaders():
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value)
            self.close_connection = True
            if self.command == "HEAD" or response.status in (204, 304) or length is not None:
                self.send_header("Connection", "close")
                self.end_headers()
                while chunk := response.read(CHUNK):
                    self.wfile.write(chunk)
            else:
                body = response.read()
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
            proxy.record(self.command, self.path, response.status)
        finally:
            upstream.close()

