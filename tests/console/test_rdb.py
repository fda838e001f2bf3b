"""RDB validation on real dumps from redis-server: CRC64, magic, truncation, redis-check-rdb."""

from __future__ import annotations

import gzip
import os
import shutil

import pytest

from console.kinds.redis import rdb
from tests import crc64_reference
from tests.redis_fixtures import populate


@pytest.fixture
def real_rdb(make_redis_server, tmp_path):
    server = make_redis_server(appendonly=False)
    populate(server)
    server.client().save()
    path = tmp_path / "dump.rdb"
    shutil.copy(server.dir / "dump.rdb", path)
    return path


def test_crc64_matches_redis_check_value_and_is_incremental():
    assert rdb.crc64(b"123456789") == 0xE9C6D914C4B8D9CA  # the value in Redis's src/crc64.c test
    data = bytes(range(256)) * 41 + b"tail"
    whole = rdb.crc64(data)
    for split in (0, 1, 7, 8, 9, 1000, len(data)):
        assert rdb.crc64_update(rdb.crc64_update(0, data[:split]), data[split:]) == whole


def test_library_crc64_equals_the_pure_python_reference():
    assert crc64_reference.crc64(b"123456789") == 0xE9C6D914C4B8D9CA
    data = os.urandom(100_003)  # not a multiple of 8: the reference's byte-wise tail runs too
    assert rdb.crc64(data) == crc64_reference.crc64(data)
    assert rdb.crc64(memoryview(data)[5:]) == crc64_reference.crc64(data[5:])


def test_library_crc64_reproduces_the_trailer_redis_server_wrote(real_rdb):
    data = real_rdb.read_bytes()
    stored = int.from_bytes(data[-8:], "little")
    assert stored != 0
    assert rdb.crc64(data[:-8]) == stored == crc64_reference.crc64(data[:-8])


@pytest.mark.parametrize("chunk", [1, 7, 8, 9, 4096])
def test_stream_check_in_odd_chunk_sizes_finds_the_same_crc(real_rdb, chunk):
    data = real_rdb.read_bytes()
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)]
    result = rdb.validate_stream(pieces, "dump.rdb")
    assert result.ok and result.checksum == "ok", result.message


@pytest.mark.parametrize("use_tool", [True, False])
def test_real_dump_validates(real_rdb, use_tool):
    result = rdb.validate_file(real_rdb, use_tool=use_tool)
    assert result.ok, result.message
    assert result.rdb_version >= 9 and result.checksum == "ok"
    assert result.check_tool == ("ok" if use_tool else None)
    if use_tool:
        assert "redis-check-rdb ok" in result.message


@pytest.mark.parametrize("use_tool", [True, False])
def test_one_flipped_byte_fails_with_a_message_naming_the_file(real_rdb, tmp_path, use_tool):
    damaged = tmp_path / "snapshot_20250101_020000.rdb"
    data = bytearray(real_rdb.read_bytes())
    data[len(data) // 2] ^= 0x10
    damaged.write_bytes(bytes(data))
    result = rdb.validate_file(damaged, use_tool=use_tool)
    assert not result.ok
    assert result.message.startswith("snapshot_20250101_020000.rdb")
    assert "checksum mismatch" in result.message and "corrupt" in result.message


def test_flipped_byte_inside_a_gzip_copy_is_caught(real_rdb, tmp_path):
    packed = tmp_path / "snapshot_20250101_020000.rdb.gz"
    packed.write_bytes(gzip.compress(real_rdb.read_bytes()))
    assert rdb.validate_file(packed).ok
    data = bytearray(packed.read_bytes())
    data[len(data) // 2] ^= 0x01
    packed.write_bytes(bytes(data))
    result = rdb.validate_file(packed)
    assert not result.ok
    assert "snapshot_20250101_020000.rdb.gz" in result.message


def test_truncated_dump_fails(real_rdb, tmp_path):
    cut = tmp_path / "cut.rdb"
    cut.write_bytes(real_rdb.read_bytes()[:-100])
    result = rdb.validate_file(cut, use_tool=False)
    assert not result.ok and "cut.rdb" in result.message


def test_not_an_rdb_names_what_it_found(tmp_path):
    other = tmp_path / "notes.rdb"
    other.write_bytes(b"hello world, definitely not redis")
    result = rdb.validate_file(other)
    assert not result.ok
    assert result.message == "notes.rdb is not an RDB file (starts with 'hello', expected 'REDIS')"


def test_structural_damage_with_a_fixed_up_checksum_is_found_by_redis_check_rdb(real_rdb, tmp_path):
    if rdb.check_tool() is None:
        pytest.skip("redis-check-rdb is not installed")
    data = bytearray(real_rdb.read_bytes())
    data[9] = 0x7F  # the first opcode after the header becomes an unknown object type
    body = bytes(data[:-8])
    forged = tmp_path / "forged.rdb"
    forged.write_bytes(body + rdb.crc64(body).to_bytes(8, "little"))
    assert rdb.validate_file(forged, use_tool=False).ok  # the CRC alone cannot see it
    result = rdb.validate_file(forged)
    assert not result.ok
    assert "redis-check-rdb found an error" in result.message and result.check_tool == "failed"


@pytest.mark.parametrize("use_tool", [True, False])
def test_dump_written_without_checksum_is_accepted_as_unchecked(make_redis_server, use_tool):
    server = make_redis_server(appendonly=False, extra={"rdbchecksum": "no"})
    server.client().set("k", "v")
    server.client().save()
    result = rdb.validate_file(server.dir / "dump.rdb", use_tool=use_tool)
    assert result.ok and result.checksum == "disabled"
    assert "checksum disabled" in result.message


def test_tool_stopping_early_on_a_large_damaged_dump_still_gives_a_clear_message(make_redis_server, tmp_path):
    server = make_redis_server(appendonly=False)
    pipe = server.client().pipeline(transaction=False)
    for index in range(500):
        pipe.set(f"big:{index}", os.urandom(5_000))  # random: LZF cannot shrink it
    pipe.execute()
    server.client().save()
    data = bytearray((server.dir / "dump.rdb").read_bytes())
    assert len(data) > 2_000_000
    data[9] = 0x7F  # redis-check-rdb stops at once and closes its input
    damaged = tmp_path / "big.rdb"
    damaged.write_bytes(bytes(data))
    result = rdb.validate_file(damaged)
    assert not result.ok
    assert result.message.startswith("big.rdb: RDB checksum mismatch")
    assert ("redis-check-rdb:" in result.message) == (rdb.check_tool() is not None)
