"""The pure-Python CRC-64/Redis (slicing-by-8) the engine used before anycrc: the reference the
library's result is checked against. Kept out of console/ because at ~3 MB/s it is too slow to
verify anything real."""

from __future__ import annotations

_POLY_REFLECTED = 0x95AC9329AC4BC9B5
"""Bit-reversed 0xad93d23594c935a9 (CRC-64/Jones), as Redis's src/crc64.c uses it."""


def _make_tables() -> list[list[int]]:
    """Slicing-by-8 tables: table[k][b] is the CRC of byte b followed by k zero bytes."""
    base = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY_REFLECTED if crc & 1 else crc >> 1
        base.append(crc)
    tables = [base]
    for _ in range(7):
        previous = tables[-1]
        tables.append([(previous[b] >> 8) ^ base[previous[b] & 0xFF] for b in range(256)])
    return tables


_T0, _T1, _T2, _T3, _T4, _T5, _T6, _T7 = _make_tables()


def crc64_update(crc: int, data: bytes) -> int:
    """Continue Redis's CRC64 over ``data`` (start with 0); eight bytes a step, little-endian words."""
    t0, t1, t2, t3, t4, t5, t6, t7 = _T0, _T1, _T2, _T3, _T4, _T5, _T6, _T7
    length = len(data)
    whole = length - length % 8
    view = memoryview(data)
    if whole:
        for word in view[:whole].cast("Q"):
            crc ^= word
            crc = (t7[crc & 0xFF] ^ t6[(crc >> 8) & 0xFF] ^ t5[(crc >> 16) & 0xFF] ^ t4[(crc >> 24) & 0xFF]
                   ^ t3[(crc >> 32) & 0xFF] ^ t2[(crc >> 40) & 0xFF] ^ t1[(crc >> 48) & 0xFF] ^ t0[crc >> 56])
    for byte in view[whole:]:
        crc = t0[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


def crc64(data: bytes) -> int:
    return crc64_update(0, data)
