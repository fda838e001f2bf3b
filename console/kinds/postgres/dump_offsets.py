"""Fill in the data offsets of a custom-format dump that pg_dump wrote to a pipe.

pg_dump writes each table's data position into the table of contents only when it can seek
back, that is when it writes to a file; our backup streams ``pg_dump -Fc -Z0`` through Python
(compressed on the way), so every entry says "position not set". ``pg_restore --jobs`` then has
to scan for each table's data instead of seeking to it: about 20 % slower on a 1 GB database
(bench/README.md). A parallel restore decompresses into a temporary file anyway; there this module
reads the table of contents once, finds each data block's header, and writes each entry's
position in place. The file is otherwise unchanged.

Only archive versions 1.12-1.15 (PostgreSQL 11-17) are handled; anything else is left alone, and
pg_restore still checks every block's id where it seeks to, so a wrong position cannot go unnoticed.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path
from typing import BinaryIO

MAGIC = b"PGDMP"
_FORMAT_CUSTOM = 1
_OFFSET_NOT_SET, _OFFSET_SET = 1, 2
_BLOCK_DATA, _BLOCK_BLOBS = 1, 3
_SUPPORTED = ((1, 12), (1, 13), (1, 14), (1, 15))


class _Unsupported(Exception):
    pass


class _Reader:
    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.int_size = 4

    def byte(self) -> int:
        data = self.handle.read(1)
        if not data:
            raise EOFError
        return data[0]

    def int(self) -> int:
        sign = self.byte()
        raw = self.handle.read(self.int_size)
        if len(raw) != self.int_size:
            raise EOFError
        value = int.from_bytes(raw, "little")
        return -value if sign else value

    def str(self) -> bytes | None:
        length = self.int()
        if length < 0:
            return None
        data = self.handle.read(length)
        if len(data) != length:
            raise EOFError
        return data


def fill_offsets(path: Path) -> int:
    """Write the data offsets into the dump's table of contents; return how many were filled in."""
    with open(path, "r+b") as handle:
        try:
            entries, off_size, data_start = _read_toc(handle)
        except (_Unsupported, EOFError):
            return 0
        missing = [(dump_id, where) for dump_id, (state, where) in entries.items() if state == _OFFSET_NOT_SET]
        if not missing:
            return 0
        int_size = _int_size(handle)
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
            positions = _block_positions(view, data_start, [dump_id for dump_id, _ in missing], int_size)
        if positions is None:
            return 0
        for (_, where), position in zip(missing, positions):
            handle.seek(where)
            handle.write(bytes([_OFFSET_SET]) + position.to_bytes(off_size, "little"))
        return len(missing)


def _read_toc(handle: BinaryIO) -> tuple[dict[int, tuple[int, int]], int, int]:
    """dumpId -> (offset state, file position of that state byte); the offset size; where data begins."""
    reader = _Reader(handle)
    if handle.read(5) != MAGIC:
        raise _Unsupported
    version = (reader.byte(), reader.byte())
    reader.byte()  # revision
    if version not in _SUPPORTED:
        raise _Unsupported
    reader.int_size = reader.byte()
    off_size = reader.byte()
    if reader.byte() != _FORMAT_CUSTOM or not 1 <= reader.int_size <= 8 or not 1 <= off_size <= 8:
        raise _Unsupported
    compression = reader.byte() if version >= (1, 15) else reader.int()  # algorithm, or level before 1.15
    if compression != 0:
        raise _Unsupported  # compressed chunks may hold any bytes: the block search below needs plain COPY text
    for _ in range(7):  # creation time: sec, min, hour, mday, mon, year, isdst
        reader.int()
    for _ in range(3):  # database name, server version, pg_dump version
        reader.str()
    entries: dict[int, tuple[int, int]] = {}
    for _ in range(reader.int()):
        dump_id = reader.int()
        reader.int()  # had dumper
        for _ in range(4):  # table oid, oid, tag, description
            reader.str()
        reader.int()  # section
        for _ in range(7):  # definition, drop, copy statement, namespace, tablespace, table AM, owner
            reader.str()
        reader.str()  # "false" (with OIDs)
        while reader.str() is not None:  # dependencies
            pass
        where = handle.tell()
        state = reader.byte()
        handle.seek(off_size, os.SEEK_CUR)
        entries[dump_id] = (state, where)
    return entries, off_size, handle.tell()


def _block_positions(view: mmap.mmap, start: int, dump_ids: list[int], int_size: int) -> list[int] | None:
    """The position of each data block, in table-of-contents order (pg_dump writes them so), or None.

    Walking the blocks chunk by chunk would take a Python step per row (pg_dump writes a chunk per
    COPY row: millions for a 1 GB database). Instead each block after the first is found by the
    bytes that must precede and open it: the previous block's end (the integer 0: 1 + int_size zero
    bytes), the block type, and its dump id. COPY text has no zero bytes, so inside table data
    that sequence cannot occur by chance; each find starts after the previous block, and the
    header found is read back. pg_restore checks the id again where it seeks to.
    """
    positions = []
    at = start
    end_marker = bytes(1 + int_size)
    for index, dump_id in enumerate(dump_ids):
        encoded = b"\x00" + dump_id.to_bytes(int_size, "little")
        if index == 0:
            found = at if view[at + 1:at + 2 + int_size] == encoded and view[at] in (_BLOCK_DATA, _BLOCK_BLOBS) else -1
        else:
            found = -1
            for kind in (_BLOCK_DATA, _BLOCK_BLOBS):
                hit = view.find(end_marker + bytes([kind]) + encoded, at)
                if hit >= 0 and (found < 0 or hit < found):
                    found = hit
            if found >= 0:
                found += len(end_marker)
        if found < 0:
            return None  # not in the order or shape expected: leave the dump as it is
        positions.append(found)
        at = found + 2 + int_size
    return positions


def _int_size(handle: BinaryIO) -> int:
    here = handle.tell()
    handle.seek(len(MAGIC) + 3)
    size = handle.read(1)[0]
    handle.seek(here)
    return size
