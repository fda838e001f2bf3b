"""Encryption of backup files: our authenticated streaming format, and decryption of the
manual's legacy ``openssl enc -aes-256-cbc -k KEY`` files.

Our format (docs/encryption-format.md) is a small versioned header followed by AES-256-GCM
chunks. The key comes from scrypt over the passphrase; every chunk has its own nonce (prefix +
counter) and the header plus a final-chunk flag as associated data, so a wrong key, a flipped
bit, reordered chunks and truncation (even at a chunk boundary) are all detected. Memory stays
flat: one chunk at a time. Everything is built on ``cryptography``; no primitive is our own.
Legacy files are handed to ``console.legacy_crypto`` after their first bytes are recognised.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import io
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Iterator, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from console.artifacts import ArtifactSet
from console.errors import ConfigError, CryptoError
from console.progress import CancelToken, ProgressCallback, ProgressEvent, Throttle, check_cancel, emit

if TYPE_CHECKING:
    from console.config import Settings

MAGIC = b"BCENC\x00"
VERSION = 1
KDF_SCRYPT = 1
DEFAULT_CHUNK_SIZE = 64 * 1024
DEFAULT_SCRYPT_LOG2_N = 15
DEFAULT_SCRYPT_R = 8
DEFAULT_SCRYPT_P = 1
SALT_SIZE = 16
NONCE_PREFIX_SIZE = 8
TAG_SIZE = 16
MAC_SIZE = 32
FORMAT_NAME = "backup-console v1 (scrypt + AES-256-GCM, chunked)"

# Bounds on what a header may ask for, so a forged header cannot make us burn gigabytes of RAM.
_MAX_LOG2_N = 20
_MAX_R = 32
_MAX_P = 16
_MAX_CHUNK = 16 * 1024 * 1024
_FIXED = struct.Struct(">6sBBBBBB")  # magic, version, kdf, log2 n, r, p, salt length
_TAIL = struct.Struct(">I8s")  # chunk size, nonce prefix

LEGACY_MAGIC = b"Salted__"
"""openssl enc writes this, then an 8-byte salt, then AES-256-CBC with PKCS#7 padding."""


class Writable(Protocol):
    def write(self, data: bytes, /) -> int | None: ...


@dataclass(frozen=True)
class DecryptResult:
    """How a file was decrypted: which format or legacy variant worked, and what came out."""

    format: str
    """"backup-console" or "openssl"."""
    scheme: str
    """Human description, e.g. "openssl enc -aes-256-cbc -md sha256 (EVP_BytesToKey)"."""
    content: str
    """What the plaintext was recognised as (legacy only): gzip, tar, text, any; "authenticated" for ours."""
    bytes_out: int


# --- key sources -------------------------------------------------------------------------------


def passphrase_from_settings(settings: Settings) -> str | None:
    """The passphrase from ``encryption.key`` (BACKUP_ENCRYPTION_KEY) or ``encryption.key_file``; None if neither.

    Raises:
        ConfigError: the key file is configured but cannot be read or is empty.
    """
    if settings.encryption.key:
        return settings.encryption.key
    if settings.encryption.key_file:
        path = Path(settings.encryption.key_file).expanduser()
        try:
            with open(path, encoding="utf-8") as handle:
                first = handle.readline().rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(f"cannot read encryption.key_file {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"encryption.key_file {path} is not UTF-8 text") from None
        if not first:
            raise ConfigError(f"encryption.key_file {path} is empty (the passphrase is its first line)")
        return first
    return None


def require_passphrase(settings: Settings) -> str:
    """Like passphrase_from_settings, but a missing key is an error with the fix in its hint."""
    passphrase = passphrase_from_settings(settings)
    if passphrase is None:
        raise ConfigError("no encryption key configured",
                          hint="set BACKUP_ENCRYPTION_KEY or encryption.key_file (a 0600 file whose first line is the key)")
    return passphrase


# --- our format: writing -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Header:
    raw: bytes
    """Every header byte including the MAC: bound into each chunk's associated data."""
    log2_n: int
    r: int
    p: int
    salt: bytes
    chunk_size: int
    nonce_prefix: bytes
    mac: bytes


@functools.lru_cache(maxsize=64)
def _derive(passphrase: str, salt: bytes, log2_n: int, r: int, p: int) -> tuple[bytes, bytes]:
    """scrypt -> (AES-256 key, header MAC key).

    Cached per (passphrase, salt, parameters): scrypt costs 0.1-0.3 s a call by design, and a file
    written in this process is often read again by it (verify after backup, a restore, a drill),
    which then costs nothing. Every file still has its own random salt; the cache holds nothing
    the passphrase, already in this process's memory, does not give.
    """
    material = Scrypt(salt=salt, length=64, n=2**log2_n, r=r, p=p).derive(passphrase.encode("utf-8"))
    return material[:32], material[32:]


def _nonce(prefix: bytes, counter: int) -> bytes:
    if counter >= 2**32:
        raise CryptoError("file too large for one encryption stream (2^32 chunks)")
    return prefix + counter.to_bytes(4, "big")


def _aad(header: bytes, final: bool) -> bytes:
    return header + (b"\x01" if final else b"\x00")


class EncryptingWriter:
    """A write-only stream that encrypts into ``sink`` in our format; ``close()`` writes the final chunk.

    The last chunk must carry the final flag, so one full chunk is always held back until more
    data arrives or the stream is closed. Closing without a single write still writes a valid
    (empty) file.
    """

    def __init__(self, sink: Writable, passphrase: str, chunk_size: int = DEFAULT_CHUNK_SIZE,
                 log2_n: int = DEFAULT_SCRYPT_LOG2_N, r: int = DEFAULT_SCRYPT_R, p: int = DEFAULT_SCRYPT_P,
                 cancel: CancelToken | None = None) -> None:
        if not 16 <= chunk_size <= _MAX_CHUNK:
            raise ValueError(f"chunk size {chunk_size} out of range")
        if not passphrase:
            raise CryptoError("refusing to encrypt with an empty passphrase")
        self._sink = sink
        self._chunk = chunk_size
        self._cancel = cancel
        salt = os.urandom(SALT_SIZE)
        prefix = os.urandom(NONCE_PREFIX_SIZE)
        key, mac_key = _derive(passphrase, salt, log2_n, r, p)
        body = _FIXED.pack(MAGIC, VERSION, KDF_SCRYPT, log2_n, r, p, SALT_SIZE) + salt + _TAIL.pack(chunk_size, prefix)
        self._header = body + hmac.new(mac_key, body, hashlib.sha256).digest()
        self._aead = AESGCM(key)
        self._prefix = prefix
        self._counter = 0
        self._buffer = bytearray()
        self.bytes_in = 0
        self.bytes_out = 0
        self.closed = False
        self._put(self._header)

    def _put(self, data: bytes) -> None:
        self._sink.write(data)
        self.bytes_out += len(data)

    def _seal(self, plain: bytes, final: bool) -> None:
        check_cancel(self._cancel)
        self._put(self._aead.encrypt(_nonce(self._prefix, self._counter), plain, _aad(self._header, final)))
        self._counter += 1

    def write(self, data: bytes) -> int:
        if self.closed:
            raise ValueError("write to a closed EncryptingWriter")
        self._buffer += data
        self.bytes_in += len(data)
        # Strictly more than one chunk buffered: the first one is certainly not the last.
        while len(self._buffer) > self._chunk:
            self._seal(bytes(self._buffer[: self._chunk]), final=False)
            del self._buffer[: self._chunk]
        return len(data)

    def flush(self) -> None:
        """Nothing to do: a chunk can only be written once it is known not to be the last."""

    def close(self) -> None:
        if not self.closed:
            self._seal(bytes(self._buffer), final=True)
            self._buffer.clear()
            self.closed = True

    def __enter__(self) -> EncryptingWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()


def encrypt_stream(src: BinaryIO, sink: Writable, passphrase: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE,
                   total: int | None = None, on_progress: ProgressCallback | None = None,
                   cancel: CancelToken | None = None, log2_n: int = DEFAULT_SCRYPT_LOG2_N) -> int:
    """Encrypt everything ``src`` yields into ``sink``; returns the plaintext byte count."""
    progress = Throttle(on_progress)
    writer = EncryptingWriter(sink, passphrase, chunk_size, log2_n=log2_n, cancel=cancel)
    while block := src.read(chunk_size):
        writer.write(block)
        emit(progress, ProgressEvent("encrypt", writer.bytes_in, total))
    writer.close()
    emit(progress, ProgressEvent("encrypt", writer.bytes_in, total, finished=True))
    return writer.bytes_in


# --- our format: reading -----------------------------------------------------------------------


def read_exact(src: BinaryIO, size: int) -> bytes:
    """Read up to ``size`` bytes, looping over short reads (pipes); fewer only at end of file."""
    parts = []
    remaining = size
    while remaining > 0:
        block = src.read(remaining)
        if not block:
            break
        parts.append(block)
        remaining -= len(block)
    return b"".join(parts)


def _read_header(src: BinaryIO, start: bytes, where: str) -> _Header:
    fixed = start + read_exact(src, _FIXED.size - len(start))
    if len(fixed) < _FIXED.size:
        raise CryptoError(f"{where}: truncated header: wrong key or corrupt file")
    magic, version, kdf, log2_n, r, p, salt_len = _FIXED.unpack(fixed)
    if magic != MAGIC:
        raise CryptoError(f"{where}: not a backup-console encrypted file")
    if version != VERSION:
        raise CryptoError(f"{where}: unknown format version {version} (this console reads version {VERSION}): "
                          "corrupt file or written by a newer backup-console")
    if kdf != KDF_SCRYPT or not (10 <= log2_n <= _MAX_LOG2_N and 1 <= r <= _MAX_R and 1 <= p <= _MAX_P
                                 and 8 <= salt_len <= 64):
        raise CryptoError(f"{where}: unsupported or damaged key-derivation parameters: wrong key or corrupt file")
    salt = read_exact(src, salt_len)
    tail = read_exact(src, _TAIL.size)
    mac = read_exact(src, MAC_SIZE)
    if len(salt) < salt_len or len(tail) < _TAIL.size or len(mac) < MAC_SIZE:
        raise CryptoError(f"{where}: truncated header: wrong key or corrupt file")
    chunk_size, prefix = _TAIL.unpack(tail)
    if not 16 <= chunk_size <= _MAX_CHUNK:
        raise CryptoError(f"{where}: damaged header (chunk size {chunk_size}): wrong key or corrupt file")
    return _Header(fixed + salt + tail + mac, log2_n, r, p, salt, chunk_size, prefix, mac)


def _iter_ours(src: BinaryIO, passphrase: str, start: bytes, where: str,
               cancel: CancelToken | None) -> Iterator[bytes]:
    header = _read_header(src, start, where)
    key, mac_key = _derive(passphrase, header.salt, header.log2_n, header.r, header.p)
    expected = hmac.new(mac_key, header.raw[:-MAC_SIZE], hashlib.sha256).digest()
    if not hmac.compare_digest(expected, header.mac):
        raise CryptoError(f"{where}: wrong key or corrupt file (the header does not authenticate with this key)")
    aead = AESGCM(key)
    sealed_size = header.chunk_size + TAG_SIZE
    current = read_exact(src, sealed_size)
    if not current:
        raise CryptoError(f"{where}: truncated after the header (no data): corrupt file")
    counter = 0
    offset = len(header.raw)
    while True:
        check_cancel(cancel)
        following = read_exact(src, sealed_size)
        final = not following
        try:
            plain = aead.decrypt(_nonce(header.nonce_prefix, counter), current, _aad(header.raw, final))
        except InvalidTag:
            if final:
                raise CryptoError(f"{where}: truncated or corrupt file: last chunk {counter} (offset {offset}) "
                                  "does not authenticate as the end of the stream") from None
            raise CryptoError(f"{where}: corrupt file: chunk {counter} (offset {offset}) does not authenticate "
                              "(flipped bits, reordered or spliced data)") from None
        yield plain
        if final:
            return
        offset += len(current)
        counter += 1
        current = following


# --- decryption entry points ---------------------------------------------------------------------


class Decryption:
    """Plaintext chunks of an encrypted stream (ours or legacy, detected from the first bytes).

    Iterate to get the plaintext; ``result`` is set once the iteration has completed, which is
    also when the whole stream has been authenticated (ours) or content-checked (legacy).
    """

    def __init__(self, src: BinaryIO, passphrase: str, where: str = "input", expect: str = "auto",
                 cancel: CancelToken | None = None) -> None:
        if expect not in ("auto", "gzip", "tar", "text", "any"):
            raise ValueError(f"unknown content kind {expect!r}")
        self._src = src
        self._passphrase = passphrase
        self._where = where
        self._expect = expect
        self._cancel = cancel
        self.result: DecryptResult | None = None

    def __iter__(self) -> Iterator[bytes]:
        start = read_exact(self._src, len(LEGACY_MAGIC))
        if start.startswith(MAGIC):
            produced = 0
            for plain in _iter_ours(self._src, self._passphrase, start, self._where, self._cancel):
                produced += len(plain)
                yield plain
            self.result = DecryptResult("backup-console", FORMAT_NAME, "authenticated", produced)
        elif start == LEGACY_MAGIC:
            from console.legacy_crypto import iter_legacy

            chosen: list[DecryptResult] = []
            yield from iter_legacy(self._src, self._passphrase, self._where, self._expect, self._cancel, chosen)
            self.result = chosen[0]
        else:
            raise CryptoError(f"{self._where}: not an encrypted file (neither backup-console's format nor "
                              "openssl's 'Salted__' header)")


def detect_format(path: Path) -> str | None:
    """"backup-console", "openssl" or None, from the first bytes of ``path``."""
    with open(path, "rb") as handle:
        start = handle.read(len(LEGACY_MAGIC))
    if start.startswith(MAGIC):
        return "backup-console"
    if start == LEGACY_MAGIC:
        return "openssl"
    return None


def decrypt_stream(src: BinaryIO, sink: Writable, passphrase: str, *, where: str = "input", expect: str = "auto",
                   total: int | None = None, on_progress: ProgressCallback | None = None,
                   cancel: CancelToken | None = None) -> DecryptResult:
    """Decrypt ``src`` into ``sink``. ``sink`` receives only authenticated chunks, but a failure can
    come after some were written: callers write into an ArtifactSet so a failure leaves nothing."""
    progress = Throttle(on_progress)
    decryption = Decryption(src, passphrase, where, expect, cancel)
    done = 0
    for plain in decryption:
        sink.write(plain)
        done += len(plain)
        emit(progress, ProgressEvent("decrypt", done, total))
    emit(progress, ProgressEvent("decrypt", done, total, finished=True))
    assert decryption.result is not None
    return decryption.result


class IterReader(io.RawIOBase):
    """A read-only file object over an iterator of byte chunks (feeds tarfile's stream mode)."""

    def __init__(self, chunks: Iterator[bytes] | Decryption) -> None:
        self._chunks = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # noqa: ANN001 - memoryview/bytearray
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


# --- files -------------------------------------------------------------------------------------------


def encrypt_file(src: Path, dst: Path, passphrase: str, *, on_progress: ProgressCallback | None = None,
                 cancel: CancelToken | None = None) -> int:
    """Encrypt ``src`` into a new file ``dst`` (through an ArtifactSet: all or nothing, mode 0600)."""
    with _open_input(src) as handle, ArtifactSet(dst.parent) as files, files.create(dst.name) as out:
        return encrypt_stream(handle, out, passphrase, total=_size(src), on_progress=on_progress, cancel=cancel)


def decrypt_file(src: Path, dst: Path, passphrase: str, *, expect: str = "auto",
                 on_progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> DecryptResult:
    """Decrypt ``src`` (ours or legacy) into a new file ``dst``; on any failure ``dst`` does not exist."""
    with _open_input(src) as handle, ArtifactSet(dst.parent) as files, files.create(dst.name) as out:
        return decrypt_stream(handle, out, passphrase, where=str(src), expect=expect, total=_size(src),
                              on_progress=on_progress, cancel=cancel)


def verify_file(src: Path, passphrase: str, *, expect: str = "auto", cancel: CancelToken | None = None) -> DecryptResult:
    """Decrypt ``src`` without writing anything: proves the key and the file's integrity."""
    with _open_input(src) as handle:
        return decrypt_stream(handle, _Discard(), passphrase, where=str(src), expect=expect, cancel=cancel)


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)


def _open_input(path: Path) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise CryptoError(f"cannot read {path}: {exc.strerror or exc}") from None


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def expected_content(name: str) -> str:
    """What an encrypted file's plaintext should be, from its name (``x.tar.gz.enc`` -> gzip)."""
    base = name[:-4] if name.endswith(".enc") else name
    if base.endswith((".gz", ".tgz")):
        return "gzip"
    if base.endswith(".tar"):
        return "tar"
    if base.rsplit("/", 1)[-1].startswith(".env"):
        return "text"
    return "auto"
