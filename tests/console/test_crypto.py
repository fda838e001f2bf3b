"""Our encryption format (round trips, tampering of every kind) and the manual's legacy openssl
files, produced here by the real ``openssl`` binary with the key passed through its environment."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import struct
import subprocess
import tarfile
import tracemalloc
from pathlib import Path

import pytest

from console import crypto
from console.errors import ConfigError, CryptoError
from tests.servers import require_binary

KEY = "correct horse battery staple"
CHUNK = crypto.DEFAULT_CHUNK_SIZE
HEADER = 72  # 12 fixed + 16 salt + 4 chunk size + 8 nonce prefix + 32 MAC
SEALED = CHUNK + crypto.TAG_SIZE


def seal(data: bytes, key: str = KEY, chunk_size: int = CHUNK) -> bytes:
    out = io.BytesIO()
    crypto.encrypt_stream(io.BytesIO(data), out, key, chunk_size=chunk_size)
    return out.getvalue()


def unseal(blob: bytes, key: str = KEY, expect: str = "auto") -> bytes:
    out = io.BytesIO()
    crypto.decrypt_stream(io.BytesIO(blob), out, key, expect=expect)
    return out.getvalue()


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK - 1, 3 * CHUNK, 3 * CHUNK + 1])
def test_round_trip_is_byte_for_byte(size):
    data = os.urandom(size)
    blob = seal(data)
    chunks = max(1, -(-size // CHUNK))
    assert len(blob) == HEADER + size + chunks * crypto.TAG_SIZE
    assert blob.startswith(crypto.MAGIC)
    assert unseal(blob) == data


def test_fifty_megabytes_round_trip_through_files_with_flat_memory(tmp_path):
    source = tmp_path / "big.bin"
    block = os.urandom(1024 * 1024)
    with open(source, "wb") as handle:
        for index in range(50):
            handle.write(block[index:] + block[:index])
    encrypted, decrypted = tmp_path / "big.bin.enc", tmp_path / "big.out"
    tracemalloc.start()
    try:
        crypto.encrypt_file(source, encrypted, KEY)
        result = crypto.decrypt_file(encrypted, decrypted, KEY)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"peak Python memory {peak} bytes for a 50 MB file"
    assert result.format == "backup-console" and result.bytes_out == 50 * 1024 * 1024
    assert hashlib.sha256(decrypted.read_bytes()).digest() == hashlib.sha256(source.read_bytes()).digest()
    assert encrypted.stat().st_mode & 0o777 == 0o600
    assert not list(tmp_path.glob("*.partial"))


def test_wrong_key_is_detected_and_leaves_no_file(tmp_path):
    source = tmp_path / "plain.txt"
    source.write_text("SECRET=1\n")
    crypto.encrypt_file(source, tmp_path / "plain.txt.enc", KEY)
    with pytest.raises(CryptoError, match="wrong key or corrupt file"):
        crypto.decrypt_file(tmp_path / "plain.txt.enc", tmp_path / "out.txt", "not the key")
    assert not (tmp_path / "out.txt").exists()
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize("size", [3 * CHUNK, 3 * CHUNK + 100])
@pytest.mark.parametrize("keep_chunks", [1, 2])
def test_truncation_at_a_chunk_boundary_is_detected(size, keep_chunks):
    blob = seal(os.urandom(size))
    truncated = blob[: HEADER + keep_chunks * SEALED]
    with pytest.raises(CryptoError, match="truncated"):
        unseal(truncated)


def test_truncation_to_the_header_and_inside_a_chunk_is_detected():
    blob = seal(os.urandom(2 * CHUNK + 5))
    for cut in (HEADER, HEADER - 1, 10, HEADER + SEALED + 7, len(blob) - 1):
        with pytest.raises(CryptoError):
            unseal(blob[:cut])


def test_reordered_chunks_are_detected():
    blob = seal(os.urandom(3 * CHUNK + 10))
    header, body = blob[:HEADER], blob[HEADER:]
    first, second, rest = body[:SEALED], body[SEALED:2 * SEALED], body[2 * SEALED:]
    with pytest.raises(CryptoError, match="chunk 0"):
        unseal(header + second + first + rest)


def test_chunks_spliced_from_another_file_with_the_same_key_are_detected():
    one, two = seal(os.urandom(2 * CHUNK + 1)), seal(os.urandom(2 * CHUNK + 1))
    with pytest.raises(CryptoError):
        unseal(one[:HEADER] + two[HEADER:])


def test_data_appended_after_the_final_chunk_is_detected():
    blob = seal(b"hello")
    with pytest.raises(CryptoError):
        unseal(blob + b"\x00" * 40)


@pytest.mark.parametrize("position", [0, 6, 7, 9, 12, 27, 30, 36, 44, 71, HEADER, HEADER + CHUNK // 2,
                                      HEADER + SEALED - 1, -1])
def test_one_flipped_bit_anywhere_is_detected(position):
    blob = bytearray(seal(os.urandom(CHUNK + 1000)))
    blob[position] ^= 0x01
    with pytest.raises(CryptoError):
        unseal(bytes(blob))


def test_forged_header_asking_for_huge_scrypt_cost_is_refused_quickly():
    blob = bytearray(seal(b"data"))
    blob[8] = 40  # log2(n): 2**40 would need terabytes
    with pytest.raises(CryptoError, match="parameters"):
        unseal(bytes(blob))


def test_header_records_the_kdf_parameters_and_random_salt_and_nonce():
    one, two = seal(b"same"), seal(b"same")
    magic, version, kdf, log2_n, r, p, salt_len = struct.unpack(">6sBBBBBB", one[:12])
    assert (magic, version, kdf, log2_n, r, p, salt_len) == (crypto.MAGIC, 1, 1, 15, 8, 1, 16)
    assert struct.unpack(">I", one[28:32])[0] == CHUNK
    assert one[12:28] != two[12:28] and one[32:40] != two[32:40]
    assert one != two


def test_encrypting_writer_streams_tar_gz_straight_through():
    sink = io.BytesIO()
    writer = crypto.EncryptingWriter(sink, KEY)
    with tarfile.open(fileobj=writer, mode="w|gz") as tar:
        payload = b"-----BEGIN PRIVATE KEY-----\nabc\n"
        info = tarfile.TarInfo("k.key")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    writer.close()
    assert b"PRIVATE KEY" not in sink.getvalue()
    decryption = crypto.Decryption(io.BytesIO(sink.getvalue()), KEY)
    with tarfile.open(fileobj=crypto.IterReader(decryption), mode="r|gz") as tar:
        member = next(iter(tar))
        assert tar.extractfile(member).read() == payload  # type: ignore[union-attr]


# --- key sources ------------------------------------------------------------------------------------


def test_passphrase_sources(make_settings, tmp_path):
    assert crypto.passphrase_from_settings(make_settings(**{"encryption.key": "k1"})) == "k1"
    key_file = tmp_path / "key"
    key_file.write_text("from-file\nsecond line ignored\n")
    assert crypto.passphrase_from_settings(make_settings(**{"encryption.key_file": str(key_file)})) == "from-file"
    assert crypto.passphrase_from_settings(make_settings()) is None
    with pytest.raises(ConfigError, match="no encryption key"):
        crypto.require_passphrase(make_settings())
    with pytest.raises(ConfigError, match="cannot read encryption.key_file"):
        crypto.passphrase_from_settings(make_settings(**{"encryption.key_file": str(tmp_path / "missing")}))


# --- legacy: the manual's openssl enc files ------------------------------------------------------------


def openssl_encrypt(plain: Path, out: Path, options: list[str], key: str = KEY) -> list[str]:
    """Encrypt like the manual, but with the key in the child's environment; returns the argv used."""
    argv = [require_binary("openssl"), "enc", "-aes-256-cbc", *options, "-pass", "env:BC_LEGACY_KEY",
            "-in", str(plain), "-out", str(out)]
    subprocess.run(argv, env={**os.environ, "BC_LEGACY_KEY": key}, check=True, capture_output=True, timeout=30)
    assert key not in " ".join(argv)
    return argv


VARIANTS = [(["-md", "md5"], "md5"), (["-md", "sha256"], "sha256"), (["-pbkdf2"], "pbkdf2")]


@pytest.fixture
def legacy_inputs(tmp_path) -> dict[str, Path]:
    text = tmp_path / "env.txt"
    text.write_text("DATABASE_URL=postgres://app:s3cret@db/app\nDEBUG=false\n")
    gz = tmp_path / "data.gz"
    gz.write_bytes(gzip.compress(os.urandom(200_000) + b"tail"))
    tar = tmp_path / "data.tar"
    with tarfile.open(tar, "w") as archive:
        archive.add(text, arcname="env.txt")
    return {"text": text, "gzip": gz, "tar": tar}


@pytest.mark.parametrize("options,variant", VARIANTS)
@pytest.mark.parametrize("content", ["text", "gzip", "tar"])
def test_legacy_openssl_files_decrypt_and_report_the_variant(tmp_path, legacy_inputs, options, variant, content):
    source = legacy_inputs[content]
    encrypted = tmp_path / f"{content}.{variant}.enc"
    openssl_encrypt(source, encrypted, options)
    assert encrypted.read_bytes().startswith(b"Salted__")
    result = crypto.decrypt_file(encrypted, tmp_path / "out", KEY)
    assert (tmp_path / "out").read_bytes() == source.read_bytes()
    assert result.format == "openssl" and result.content == content
    assert f"-md {variant}" in result.scheme if variant != "pbkdf2" else "-pbkdf2" in result.scheme


@pytest.mark.parametrize("options,variant", VARIANTS)
def test_legacy_wrong_key_says_so_and_leaves_nothing(tmp_path, legacy_inputs, options, variant):
    encrypted = tmp_path / "x.enc"
    openssl_encrypt(legacy_inputs["gzip"], encrypted, options)
    with pytest.raises(CryptoError, match="wrong key or corrupt file"):
        crypto.decrypt_file(encrypted, tmp_path / "out", "some other key")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize("options,variant", VARIANTS)
def test_legacy_flipped_byte_in_gzip_content_is_detected(tmp_path, legacy_inputs, options, variant):
    encrypted = tmp_path / "x.tar.gz.enc"
    openssl_encrypt(legacy_inputs["gzip"], encrypted, options)
    blob = bytearray(encrypted.read_bytes())
    blob[len(blob) // 2] ^= 0x10
    encrypted.write_bytes(bytes(blob))
    with pytest.raises(CryptoError, match="wrong key or corrupt file"):
        crypto.decrypt_file(encrypted, tmp_path / "out", KEY, expect="gzip")
    assert not (tmp_path / "out").exists()


def test_legacy_flipped_byte_in_text_and_truncation_are_detected(tmp_path, legacy_inputs):
    encrypted = tmp_path / ".env.enc"
    openssl_encrypt(legacy_inputs["text"], encrypted, ["-md", "sha256"])
    blob = encrypted.read_bytes()
    flipped = bytearray(blob)
    flipped[20] ^= 0x04
    for damaged in (bytes(flipped), blob[:-5], blob[:-16]):
        with pytest.raises(CryptoError, match="corrupt"):
            unseal(damaged)


def test_not_an_encrypted_file_is_refused():
    with pytest.raises(CryptoError, match="not an encrypted file"):
        unseal(b"plain text, never encrypted")
