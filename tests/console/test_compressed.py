"""One opener for compressed artefacts (console/compressed.py): what it reads back is what was
written, however the bytes are cut, and a damaged or cut-off stream is an error naming the file."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import lz4.frame
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from console.compressed import DamagedStream, DecompressedReader, decompress_chunks, iter_decompressed

ROOT = Path(__file__).resolve().parents[2]
COMPRESS = {"gzip": lambda data: gzip.compress(data, 1),
            "zstd": lambda data: zstandard.ZstdCompressor(level=1, write_checksum=True).compress(data),
            "lz4": lambda data: lz4.frame.compress(data, content_checksum=True)}  # base backups the server compressed


def _cut(data: bytes, sizes: list[int]) -> list[bytes]:
    chunks, at = [], 0
    for size in sizes:
        chunks.append(data[at:at + size])
        at += size
    return [chunk for chunk in chunks if chunk] + ([data[at:]] if data[at:] else [])


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(COMPRESS)), st.binary(min_size=1, max_size=20000),
       st.lists(st.integers(1, 5000), max_size=8))
def test_what_is_read_back_is_what_was_written_however_the_bytes_arrive(compression, data, sizes):
    stored = COMPRESS[compression](data)
    seen = bytearray()
    out = b"".join(decompress_chunks(_cut(stored, sizes), compression, "x", on_raw=seen.extend))
    assert out == data
    assert bytes(seen) == stored  # every stored byte was observed (restore hashes through this)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(COMPRESS)), st.binary(min_size=64, max_size=20000), st.data())
def test_a_cut_off_stream_is_damage_never_a_short_read(compression, data, draw):
    stored = COMPRESS[compression](data)
    keep = draw.draw(st.integers(0, len(stored) - 1))
    with pytest.raises(DamagedStream, match=r"cut\.bin"):
        b"".join(decompress_chunks([stored[:keep]] if keep else [], compression, "cut.bin"))


@pytest.mark.parametrize("suffix", [".gz", ".zst", ".lz4"])
def test_the_reader_serves_any_read_size_and_checks_the_trailer(tmp_path, suffix):
    data = bytes(range(256)) * 5000
    path = tmp_path / f"file{suffix}"
    path.write_bytes(COMPRESS[{".gz": "gzip", ".zst": "zstd", ".lz4": "lz4"}[suffix]](data))
    with DecompressedReader(path) as reader:
        parts = [reader.read(size) for size in (1, 10, 10240, 3 * 1024 * 1024)] + [reader.read()]
    assert b"".join(parts) == data
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(DamagedStream, match=f"file{re.escape(suffix)}"), DecompressedReader(path) as reader:
        reader.drain()


def test_lz4_frames_follow_each_other_and_a_changed_byte_is_damage():
    first, second = b"a" * 9_000_000 + bytes(range(256)) * 40, bytes(range(255, -1, -1)) * 3
    stored = COMPRESS["lz4"](first) + COMPRESS["lz4"](second)
    assert b"".join(decompress_chunks(_cut(stored, [100, 65536]), "lz4", "x")) == first + second
    damaged = bytearray(COMPRESS["lz4"](bytes(range(256)) * 4000))
    damaged[len(damaged) // 2] ^= 0x01  # a match or a literal: the block decoder or the content checksum tells
    with pytest.raises(DamagedStream, match=r"lz4 stream corrupt in base\.tar\.lz4"):
        b"".join(decompress_chunks([bytes(damaged)], "lz4", "base.tar.lz4"))


def test_a_temporary_name_reads_as_what_it_will_be(tmp_path):
    path = tmp_path / "dump.rdb.gz.123.partial"
    path.write_bytes(gzip.compress(b"REDIS0011"))
    assert b"".join(iter_decompressed(path, compression="gzip", label="dump.rdb.gz")) == b"REDIS0011"


def test_no_other_module_opens_a_compressed_stream_itself():
    """The catalog's bounded read of a small metadata.json.gz is the one exception (a hot path at 10,000 sets)."""
    allowed = {"console/compressed.py", "console/catalog.py"}
    pattern = re.compile(r"ZstdDecompressor|GzipFile|gzip\.open|gzip\.decompress|\"r:gz\"|decompressobj|"
                         r"LZ4FrameDecompressor|lz4\.frame\.(?:open|decompress)")
    offenders = [str(path.relative_to(ROOT)) for package in ("console", "screens")
                 for path in (ROOT / package).rglob("*.py")
                 if str(path.relative_to(ROOT)) not in allowed and pattern.search(path.read_text(encoding="utf-8"))]
    assert offenders == []
