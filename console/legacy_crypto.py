"""Decryption of the procedures manual's ``openssl enc -aes-256-cbc -k KEY`` files.

They start with ``Salted__`` and an 8-byte salt; the key and IV come from the passphrase by
OpenSSL's EVP_BytesToKey (SHA-256 since OpenSSL 1.1, MD5 before) or by PBKDF2 (``-pbkdf2``).
CBC carries no MAC, so the variant is chosen, and the whole file accepted, only when the padding
is valid and the plaintext is what a backup should be (gzip, tar or text).
"""

from __future__ import annotations

import codecs
import hashlib
import re
from dataclasses import dataclass
from typing import BinaryIO, Iterator

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from console.compressed import DamagedStream, StreamDecoder
from console.crypto import DecryptResult, read_exact
from console.errors import CryptoError
from console.progress import CancelToken, check_cancel


@dataclass(frozen=True)
class _LegacyVariant:
    name: str
    scheme: str


# Debian 12's OpenSSL 3.0 wrote the manual's files with SHA-256, so it goes first; MD5 for
# files from OpenSSL < 1.1; PBKDF2 (cheap at 10000 iterations) for files made with -pbkdf2.
LEGACY_VARIANTS: tuple[_LegacyVariant, ...] = (
    _LegacyVariant("sha256", "openssl enc -aes-256-cbc -md sha256 (EVP_BytesToKey, OpenSSL 1.1+ default)"),
    _LegacyVariant("md5", "openssl enc -aes-256-cbc -md md5 (EVP_BytesToKey, OpenSSL < 1.1 default)"),
    _LegacyVariant("pbkdf2", "openssl enc -aes-256-cbc -pbkdf2 (PBKDF2-HMAC-SHA256, 10000 iterations)"),
)
PBKDF2_ITERATIONS = 10000
_TRIAL_BYTES = 64 * 1024


def legacy_key_iv(passphrase: str, salt: bytes, variant: str) -> tuple[bytes, bytes]:
    """OpenSSL's key and IV for AES-256-CBC from ``-k passphrase`` and the file's salt."""
    secret = passphrase.encode("utf-8")
    if variant == "pbkdf2":
        material = PBKDF2HMAC(hashes.SHA256(), 48, salt, PBKDF2_ITERATIONS).derive(secret)
    else:
        # EVP_BytesToKey with one iteration: D_i = H(D_{i-1} || pass || salt).
        material, block = b"", b""
        while len(material) < 48:
            block = hashlib.new(variant, block + secret + salt).digest()
            material += block
    return material[:32], material[32:48]


def _legacy_decryptor(passphrase: str, salt: bytes, variant: str):  # noqa: ANN202 - cryptography's CipherContext
    key, iv = legacy_key_iv(passphrase, salt, variant)
    return Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()


class _ContentCheck:
    """Checks, as it streams, that plaintext is what a backup should be: gzip, tar or text.

    CBC carries no MAC, so this is what tells a wrong key or a flipped byte from a good file:
    a gzip stream must inflate to its end with a matching CRC, text must be UTF-8 without
    control characters, a tar must start with a header whose checksum matches.
    """

    _CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f]")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.error: str | None = None
        self.seen = 0
        self._inflate = StreamDecoder("gzip", "the decrypted data") if kind == "gzip" else None
        self._text = codecs.getincrementaldecoder("utf-8")() if kind == "text" else None
        self._tar_head = b""

    def feed(self, data: bytes) -> None:
        if self.error or not data:
            return
        self.seen += len(data)
        try:
            if self._inflate is not None:
                for _ in self._inflate.feed(data):  # inflated only to check it; memory stays flat
                    pass
            elif self._text is not None:
                text = self._text.decode(data)
                if self._CONTROL.search(text):
                    self.error = "binary data where text was expected"
            elif self.kind == "tar" and len(self._tar_head) < 512:
                self._tar_head += data[: 512 - len(self._tar_head)]
                if len(self._tar_head) == 512 and not _tar_header_ok(self._tar_head):
                    self.error = "not a tar archive (bad header checksum)"
        except DamagedStream as exc:
            self.error = exc.message
        except UnicodeDecodeError as exc:
            self.error = f"not valid {self.kind} ({exc})"

    def finish(self) -> None:
        if self.error:
            return
        if self._inflate is not None:
            try:
                for _ in self._inflate.finish():
                    pass
            except DamagedStream as exc:
                self.error = exc.message
        elif self._text is not None:
            try:
                self._text.decode(b"", final=True)
            except UnicodeDecodeError as exc:
                self.error = f"not valid text ({exc})"
        elif self.kind == "tar" and len(self._tar_head) < 512:
            self.error = "too short for a tar archive"


def _tar_header_ok(block: bytes) -> bool:
    try:
        stored = int(block[148:156].replace(b"\x00", b" ").strip() or b"-1", 8)
    except ValueError:
        return False
    unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:])
    return stored == unsigned


def _classify(sample: bytes, complete: bool, expect: str) -> str | None:
    """The content kind ``sample`` (the start of a plaintext) looks like, or None."""
    kinds = ("gzip", "tar", "text") if expect == "auto" else (expect,)
    for kind in kinds:
        if kind == "any":
            return "any"
        if kind == "gzip" and not sample.startswith(b"\x1f\x8b\x08"):
            continue
        if kind == "tar" and (len(sample) < 512 and not complete):
            continue
        check = _ContentCheck(kind)
        check.feed(sample)
        if complete:
            check.finish()
        if check.error is None:
            return kind
    return None


def iter_legacy(src: BinaryIO, passphrase: str, where: str, expect: str, cancel: CancelToken | None,
                 chosen: list[DecryptResult]) -> Iterator[bytes]:
    salt = read_exact(src, 8)
    head = read_exact(src, _TRIAL_BYTES + 16)
    complete = len(head) <= _TRIAL_BYTES
    if len(salt) < 8 or not head or (complete and len(head) % 16):
        raise CryptoError(f"{where}: truncated or corrupt openssl file (length is not whole AES blocks)")
    trial = head if complete else head[:_TRIAL_BYTES]
    variant = kind = None
    for candidate in LEGACY_VARIANTS:
        plain = _legacy_decryptor(passphrase, salt, candidate.name).update(trial)
        if complete:
            unpadder = padding.PKCS7(128).unpadder()
            try:
                plain = unpadder.update(plain) + unpadder.finalize()
            except ValueError:
                continue
        kind = _classify(plain, complete, expect)
        if kind is not None:
            variant = candidate
            break
    if variant is None or kind is None:
        wanted = "gzip, tar or text" if expect == "auto" else expect
        raise CryptoError(f"{where}: wrong key or corrupt file (legacy openssl format: neither sha256, md5 "
                          f"nor pbkdf2 key derivation gives valid padding and {wanted} content)")
    decryptor = _legacy_decryptor(passphrase, salt, variant.name)
    unpadder = padding.PKCS7(128).unpadder()
    check = _ContentCheck(kind)
    total = 0
    pending = head
    while pending:
        check_cancel(cancel)
        following = read_exact(src, _TRIAL_BYTES)
        plain = unpadder.update(decryptor.update(pending))
        if not following:
            if (total + len(pending)) % 16:
                raise CryptoError(f"{where}: truncated or corrupt openssl file (length is not whole AES blocks)")
            try:
                plain += unpadder.update(decryptor.finalize()) + unpadder.finalize()
            except ValueError:
                raise CryptoError(f"{where}: wrong key or corrupt file (bad CBC padding; decrypted with "
                                  f"{variant.scheme})") from None
        check.feed(plain)
        if check.error:
            break
        total += len(pending)
        yield plain
        pending = following
    check.finish()
    if check.error:
        raise CryptoError(f"{where}: wrong key or corrupt file ({kind} check failed: {check.error}; "
                          f"decrypted with {variant.scheme})")
    chosen.append(DecryptResult("openssl", variant.scheme, kind, check.seen))
