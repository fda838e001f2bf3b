"""Fill in the data offsets of a custom-format dump that pg_dump wrote to a pipe.

pg_dump writes each table's data position into the table of contents only when it can seek
back, that is when it writes to a file; our backup streams ``pg_dump -Fc -Z0`` through Python
(compressed on the way), so every entry says "position not set". ``pg_restore --jobs`` then has
to scan for each table's data instead of seeking to it: about 20 % slower on a 1 GB database
(bench/README.md). A parallel restore decompresses into a temporary file anyway; there this module
reads the table of contents once, walks the data block headers (skipping their bytes with
seeks), and writes each entry's position in place. The file is otherwise unchanged.

Only archive versions 1.12-1.15 (PostgreSQL 11-17) are handled; anything else is left alone, and
pg_restore still checks every block's id where it seeks to, so a wrong position cannot go unnoticed.
"""

from __future__ import annotations

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
        missing = {dump_id: where for dump_id, (state, where) in entries.items() if state == _OFFSET_NOT_SET}
        if not missing:
            return 0
        try:
            positions = _block_positions(handle, data_start)
        except (_Unsupported, EOFError):
            return 0
        filled = 0
        for dump_id, where in missing.items():
            position = positions.get(dump_id)
            if position is None:
                continue
            handle.seek(where)
            handle.write(bytes([_OFFSET_SET]) + position.to_bytes(off_size, "little"))
            filled += 1
        return filled


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
    if version >= (1, 15):
        reader.byte()  # compression algorithm
    else:
        reader.int()  # compression level
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


def _block_positions(handle: BinaryIO, start: int) -> dict[int, int]:
    """dumpId -> position of its data block, walking the block headers and seeking past their bytes."""
    reader = _Reader(handle)
    reader.int_size = _int_size(handle)
    handle.seek(start)
    positions: dict[int, int] = {}
    while True:
        position = handle.tell()
        kind = handle.read(1)
        if not kind:
            return positions
        dump_id = reader.int()
        positions[dump_id] = position
        if kind[0] == _BLOCK_DATA:
            _skip_chunks(reader)
        elif kind[0] == _BLOCK_BLOBS:
            while reader.int() != 0:  # one large object: its oid, then its chunks
                _skip_chunks(reader)
        else:
            raise _Unsupported


def _skip_chunks(reader: _Reader) -> None:
    while (length := reader.int()) != 0:
        reader.handle.seek(length, os.SEEK_CUR)


def _int_size(handle: BinaryIO) -> int:
    here = handle.tell()
    handle.seek(len(MAGIC) + 3)
    size = handle.read(1)[0]
    handle.seek(here)
    return size
