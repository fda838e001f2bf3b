"""A minimal AMQP 0-9-1 consumer that takes deliveries and never acknowledges them.

The machine has no AMQP client library; leaving real messages unacknowledged needs a real
consumer, so this speaks just enough of the protocol: handshake, a channel, basic.consume.
Closing the socket hands the messages back to the queue.
"""

from __future__ import annotations

import socket
import struct

FRAME_METHOD = 1
FRAME_END = b"\xce"


def _shortstr(text: str) -> bytes:
    data = text.encode()
    return struct.pack(">B", len(data)) + data


def _longstr(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


EMPTY_TABLE = struct.pack(">I", 0)


class UnackedConsumer:
    """``with UnackedConsumer(vhost, queue):`` the queue's messages stay unacknowledged inside."""

    def __init__(self, vhost: str, queue: str, host: str = "127.0.0.1", port: int = 5672,
                 user: str = "guest", password: str = "guest") -> None:
        self.vhost, self.queue = vhost, queue
        self.address = (host, port)
        self.credentials = (user, password)
        self.sock: socket.socket | None = None
        self._buffer = b""

    def __enter__(self) -> UnackedConsumer:
        self.sock = socket.create_connection(self.address, timeout=10)
        self.sock.sendall(b"AMQP\x00\x00\x09\x01")
        self._expect(10, 10)  # connection.start
        user, password = self.credentials
        self._send(0, 10, 11, EMPTY_TABLE + _shortstr("PLAIN") + _longstr(f"\0{user}\0{password}".encode())
                   + _shortstr("en_US"))
        tune = self._expect(10, 30)
        channel_max, frame_max, _heartbeat = struct.unpack(">HIH", tune[:8])
        self._send(0, 10, 31, struct.pack(">HIH", channel_max, frame_max, 0))
        self._send(0, 10, 40, _shortstr(self.vhost) + _shortstr("") + b"\x00")
        self._expect(10, 41)
        self._send(1, 20, 10, _shortstr(""))
        self._expect(20, 11)
        self._send(1, 60, 20, struct.pack(">H", 0) + _shortstr(self.queue) + _shortstr("") + b"\x00" + EMPTY_TABLE)
        self._expect(60, 21)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.sock is not None:
            self.sock.close()

    def _send(self, channel: int, class_id: int, method_id: int, arguments: bytes) -> None:
        assert self.sock is not None
        payload = struct.pack(">HH", class_id, method_id) + arguments
        self.sock.sendall(struct.pack(">BHI", FRAME_METHOD, channel, len(payload)) + payload + FRAME_END)

    def _read(self, size: int) -> bytes:
        assert self.sock is not None
        while len(self._buffer) < size:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the broker closed the AMQP connection")
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def _expect(self, class_id: int, method_id: int) -> bytes:
        """Skip frames until the wanted method arrives; return its arguments."""
        while True:
            kind, _channel, size = struct.unpack(">BHI", self._read(7))
            payload = self._read(size)
            self._read(1)
            if kind != FRAME_METHOD:
                continue
            got = struct.unpack(">HH", payload[:4])
            if got == (10, 50) or got == (20, 40):
                raise ConnectionError(f"the broker closed the connection/channel: {payload[6:6 + payload[6] + 1]!r}")
            if got == (class_id, method_id):
                return payload[4:]
