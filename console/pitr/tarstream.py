"""Reads tar headers out of a byte stream as it passes, keeping the few small members asked for
(``backup_label``, ``backup_manifest``) without buffering the rest, and every regular file's size
(to check the stream against the manifest without a second pass)."""

from __future__ import annotations

BLOCK = 512


def _size(header: bytes) -> int:
    field = header[124:136]
    if field[0] & 0x80:  # base-256 for members of 8 GiB and more
        return int.from_bytes(field[1:], "big")
    text = field.split(b"\0", 1)[0].strip()
    return int(text, 8) if text else 0


class TarTap:
    """Feed it the tar stream chunk by chunk; ``captured`` holds the wanted members' bytes, ``sizes``
    every regular file's size by its path (without a leading ``./``)."""

    def __init__(self, wanted: set[str]) -> None:
        self.wanted = wanted
        self.captured: dict[str, bytes] = {}
        self.sizes: dict[str, int] = {}
        self.members = 0
        self._header = bytearray()
        self._remaining = 0
        self._padding = 0
        self._name: str | None = None
        self._parts: list[bytes] = []

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        position, end = 0, len(data)
        while position < end:
            if self._remaining:
                take = min(self._remaining, end - position)
                if self._name is not None:
                    self._parts.append(bytes(view[position:position + take]))
                position += take
                self._remaining -= take
                if not self._remaining:
                    self._finish_member()
            elif self._padding:
                take = min(self._padding, end - position)
                position += take
                self._padding -= take
            else:
                take = min(BLOCK - len(self._header), end - position)
                self._header += view[position:position + take]
                position += take
                if len(self._header) == BLOCK:
                    self._read_header(bytes(self._header))
                    self._header.clear()

    def _read_header(self, header: bytes) -> None:
        if header == bytes(BLOCK):
            return
        name = header[0:100].split(b"\0", 1)[0].decode(errors="replace")
        prefix = header[345:500].split(b"\0", 1)[0].decode(errors="replace")
        if prefix and header[257:262] == b"ustar":
            name = f"{prefix}/{name}"
        size = _size(header)
        self.members += 1
        self._remaining = size
        self._padding = (-size) % BLOCK
        regular = header[156:157] in (b"0", b"\0")
        if regular:
            self.sizes[name.removeprefix("./")] = size
        self._name = name if name in self.wanted and regular else None
        self._parts = []
        if self._name is not None and size == 0:
            self._finish_member()

    def _finish_member(self) -> None:
        if self._name is not None:
            self.captured[self._name] = b"".join(self._parts)
        self._name = None
        self._parts = []
