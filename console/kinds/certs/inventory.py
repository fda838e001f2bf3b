"""X.509 inventory: finds certificates and keys under CERT_DIR and says what each one is, when
it expires, and whether a private key of the set belongs to it.

PEM bundles (every certificate, not just the first), DER, PKCS#12 and private keys are read
with ``cryptography``. A file that is not a certificate or key is reported as a problem, never
fatal. Expiry states: ok, warn (within ``certs.warn_days``), critical (within
``certs.critical_days``) and expired.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.utils import CryptographyDeprecationWarning

from console.errors import NotConfigured

if TYPE_CHECKING:
    from console.config import Settings

EXTENSIONS = (".crt", ".pem", ".key", ".p12", ".pfx", ".der")
MAX_ENTRIES = 50_000
"""Directory entries looked at before discovery stops (a CERT_DIR of "/" must not hang a probe)."""
STATES = ("ok", "warn", "critical", "expired")
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.DOTALL)


@dataclass(frozen=True)
class CertificateInfo:
    """One certificate; ``file`` is relative to CERT_DIR (``index`` tells bundle members apart)."""

    file: str
    subject: str
    issuer: str
    valid_from: str
    valid_to: str
    serial: str
    sans: list[str]
    fingerprint_sha256: str
    key_type: str
    key_size: int | None
    days_left: int
    state: str
    index: int = 0
    private_key_file: str | None = None
    """The file of the set holding the matching private key, if any."""
    common_name: str | None = None

    @property
    def key_matched(self) -> bool:
        return self.private_key_file is not None

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "key_matched": self.key_matched}


@dataclass(frozen=True)
class KeyInfo:
    file: str
    key_type: str
    key_size: int | None
    matches: list[str]
    """Fingerprints of the certificates this key belongs to (empty: an orphan key)."""


@dataclass(frozen=True)
class Problem:
    file: str
    message: str


@dataclass
class Inventory:
    cert_dir: Path
    certificates: list[CertificateInfo] = field(default_factory=list)
    keys: list[KeyInfo] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    """Every discovered file, relative to cert_dir (what a backup archives)."""
    truncated: bool = False

    def by_state(self, state: str) -> list[CertificateInfo]:
        return [cert for cert in self.certificates if cert.state == state]

    @property
    def soonest(self) -> CertificateInfo | None:
        return min(self.certificates, key=lambda cert: cert.days_left, default=None)

    @property
    def worst_state(self) -> str:
        return max((cert.state for cert in self.certificates), key=STATES.index, default="ok")

    def summary(self) -> dict[str, Any]:
        soonest = self.soonest
        return {
            "count": len(self.certificates),
            "soonest_days": soonest.days_left if soonest else None,
            "soonest_name": (soonest.common_name or soonest.subject) if soonest else None,
            "expiring_warn": len(self.by_state("warn")),
            "expiring_critical": len(self.by_state("critical")),
            "expired": len(self.by_state("expired")),
            "keys": len(self.keys),
            "problems": len(self.problems),
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "cert_dir": str(self.cert_dir),
            "summary": self.summary(),
            "certificates": [cert.as_json() for cert in self.certificates],
            "keys": [asdict(key) for key in self.keys],
            "problems": [asdict(problem) for problem in self.problems],
            "truncated": self.truncated,
        }


# --- discovery ---------------------------------------------------------------------------------


def discover(cert_dir: Path, skip: list[Path] | None = None) -> tuple[list[Path], bool]:
    """Certificate-like files under ``cert_dir``, sorted; follows directory symlinks but never loops.

    Returns the files and whether the walk stopped at MAX_ENTRIES.
    """
    skipped = {path.resolve() for path in skip or []}
    seen_dirs: set[tuple[int, int]] = set()
    found: list[Path] = []
    entries = 0
    stack = [cert_dir]
    while stack:
        directory = stack.pop()
        try:
            status = directory.stat()
        except OSError:
            continue
        if (status.st_dev, status.st_ino) in seen_dirs or directory.resolve() in skipped:
            continue
        seen_dirs.add((status.st_dev, status.st_ino))
        try:
            with os.scandir(directory) as scan:
                children = sorted(scan, key=lambda entry: entry.name)
        except OSError:
            continue
        for entry in children:
            entries += 1
            if entries > MAX_ENTRIES:
                return sorted(found), True
            try:
                if entry.is_dir():
                    stack.append(Path(entry.path))
                elif entry.is_file() and entry.name.lower().endswith(EXTENSIONS):
                    found.append(Path(entry.path))
            except OSError:
                continue
    return sorted(found), False


# --- parsing -----------------------------------------------------------------------------------


@dataclass
class _Parsed:
    certificates: list[x509.Certificate] = field(default_factory=list)
    keys: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def parse_file(path: Path, p12_password: str = "") -> _Parsed:
    """Everything ``path`` holds; ValueError with a reason when it holds nothing usable."""
    # Real-world certificates (negative serials, odd encodings) make cryptography warn on stderr,
    # which would corrupt a terminal UI and cron mail; the inventory reports what matters instead.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return _parse_file(path, p12_password)


def _parse_file(path: Path, p12_password: str) -> _Parsed:
    data = path.read_bytes()
    parsed = _Parsed()
    if path.suffix.lower() in (".p12", ".pfx"):
        _parse_p12(data, p12_password, parsed)
    elif b"-----BEGIN" in data:
        for match in _PEM_BLOCK.finditer(data):
            label, block = match.group(1).decode(), match.group(0)
            if label in ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE"):
                try:
                    parsed.certificates.append(x509.load_pem_x509_certificate(block.replace(b"TRUSTED ", b"")))
                except ValueError as exc:
                    parsed.notes.append(f"unreadable certificate block: {exc}")
            elif label.endswith("PRIVATE KEY"):
                try:
                    parsed.keys.append(serialization.load_pem_private_key(block, password=None))
                except TypeError:
                    parsed.notes.append("encrypted private key (cannot match it without its password)")
                except ValueError as exc:
                    parsed.notes.append(f"unreadable private key: {exc}")
    else:
        _parse_der(data, p12_password, parsed)
    if not parsed.certificates and not parsed.keys and not parsed.notes:
        raise ValueError("not a certificate or key (no PEM block, DER or PKCS#12 structure found)")
    return parsed


def _parse_p12(data: bytes, password: str, parsed: _Parsed) -> None:
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password.encode() if password else None)
    except ValueError as exc:
        raise ValueError(f"cannot open PKCS#12 (wrong certs.p12_password or not PKCS#12): {exc}") from None
    if cert is not None:
        parsed.certificates.append(cert)
    parsed.certificates.extend(extra)
    if key is not None:
        parsed.keys.append(key)


def _parse_der(data: bytes, password: str, parsed: _Parsed) -> None:
    try:
        parsed.certificates.append(x509.load_der_x509_certificate(data))
        return
    except ValueError:
        pass
    try:
        parsed.keys.append(serialization.load_der_private_key(data, password=None))
        return
    except (ValueError, TypeError):
        pass
    try:
        _parse_p12(data, password, parsed)
    except ValueError:
        raise ValueError("not a certificate or key (no PEM block, DER or PKCS#12 structure found)") from None


def _public_der(key: Any) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_description(public_key: Any) -> tuple[str, int | None]:
    if isinstance(public_key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)):
        return "RSA", public_key.key_size
    if isinstance(public_key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)):
        return f"EC {public_key.curve.name}", public_key.key_size
    if isinstance(public_key, (dsa.DSAPublicKey, dsa.DSAPrivateKey)):
        return "DSA", public_key.key_size
    if isinstance(public_key, (ed25519.Ed25519PublicKey, ed25519.Ed25519PrivateKey)):
        return "Ed25519", 256
    if isinstance(public_key, (ed448.Ed448PublicKey, ed448.Ed448PrivateKey)):
        return "Ed448", 456
    return type(public_key).__name__, None


def expiry_state(days_left_exact: float, warn_days: int, critical_days: int) -> str:
    if days_left_exact <= 0:
        return "expired"
    if days_left_exact <= critical_days:
        return "critical"
    if days_left_exact <= warn_days:
        return "warn"
    return "ok"


def _sans(cert: x509.Certificate) -> list[str]:
    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    names: list[str] = []
    for general_name in extension.value:
        if isinstance(general_name, x509.DNSName):
            names.append(f"DNS:{general_name.value}")
        elif isinstance(general_name, x509.IPAddress):
            names.append(f"IP:{general_name.value}")
        elif isinstance(general_name, x509.RFC822Name):
            names.append(f"email:{general_name.value}")
        elif isinstance(general_name, x509.UniformResourceIdentifier):
            names.append(f"URI:{general_name.value}")
    return names


def _common_name(cert: x509.Certificate) -> str | None:
    attributes = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(attributes[0].value) if attributes else None


# --- the inventory -------------------------------------------------------------------------------


def build_inventory(cert_dir: Path, settings: Settings, now: datetime | None = None,
                    skip: list[Path] | None = None) -> Inventory:
    """Read every certificate-like file under ``cert_dir`` (skipping BACKUP_DIR) into an Inventory."""
    now = now or datetime.now(timezone.utc)
    cert_dir = cert_dir.absolute()
    inventory = Inventory(cert_dir)
    paths, inventory.truncated = discover(cert_dir, [settings.backup_dir, *(skip or [])])
    found_certs: list[tuple[str, int, x509.Certificate]] = []
    found_keys: list[tuple[str, Any]] = []
    for path in paths:
        relative = path.relative_to(cert_dir).as_posix()
        inventory.files.append(relative)
        try:
            parsed = parse_file(path, settings.certs.p12_password)
        except OSError as exc:
            inventory.problems.append(Problem(relative, f"cannot read: {exc.strerror or exc}"))
            continue
        except ValueError as exc:
            inventory.problems.append(Problem(relative, str(exc)))
            continue
        found_certs.extend((relative, index, cert) for index, cert in enumerate(parsed.certificates))
        found_keys.extend((relative, key) for key in parsed.keys)
        inventory.problems.extend(Problem(relative, note) for note in parsed.notes)
    key_files: dict[bytes, str] = {}
    for relative, key in found_keys:
        key_files.setdefault(_public_der(key.public_key()), relative)
    for relative, index, cert in found_certs:
        info = _describe(cert, relative, index, now, settings, key_files.get(_public_der(cert.public_key())))
        inventory.certificates.append(info)
    seen_keys: set[tuple[str, bytes]] = set()
    for relative, key in found_keys:
        public = _public_der(key.public_key())
        if (relative, public) in seen_keys:
            continue
        seen_keys.add((relative, public))
        key_type, key_size = key_description(key)
        # Copies of one certificate (cert.pem next to fullchain.pem, a backup copy) share a fingerprint:
        # list each certificate once, in the order first found.
        certs_for_key = dict.fromkeys(info.fingerprint_sha256 for (_rel, _i, cert), info
                                      in zip(found_certs, inventory.certificates)
                                      if _public_der(cert.public_key()) == public)
        inventory.keys.append(KeyInfo(relative, key_type, key_size, list(certs_for_key)))
    return inventory


def _describe(cert: x509.Certificate, relative: str, index: int, now: datetime, settings: Settings,
              key_file: str | None) -> CertificateInfo:
    not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    remaining = (not_after - now).total_seconds() / 86400
    key_type, key_size = key_description(cert.public_key())
    with warnings.catch_warnings():  # a non-positive serial warns when read, not when parsed (see parse_file)
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        serial = cert.serial_number
    return CertificateInfo(
        file=relative,
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        valid_from=not_before.isoformat(),
        valid_to=not_after.isoformat(),
        serial=format(serial, "x"),
        sans=_sans(cert),
        fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(),
        key_type=key_type,
        key_size=key_size,
        days_left=int(remaining),  # whole days, truncated toward zero: -3 means "expired 3 days ago"
        state=expiry_state(remaining, settings.certs.warn_days, settings.certs.critical_days),
        index=index,
        private_key_file=key_file,
        common_name=_common_name(cert),
    )


def cert_dir_of(settings: Settings, override: str | None = None) -> Path:
    """The certificate directory; never the working directory by default.

    Raises:
        NotConfigured: neither ``--cert-dir`` nor CERT_DIR (certs.cert_dir) is set.
    """
    chosen = override or settings.certs.cert_dir
    if not chosen:
        raise NotConfigured("the certificate directory is not configured: set CERT_DIR or certs.cert_dir "
                            "in the config file (or pass --cert-dir DIR)")
    return Path(chosen).expanduser().absolute()


def iter_expiring(inventory: Inventory) -> Iterator[CertificateInfo]:
    """Certificates that are not ok, soonest first."""
    return iter(sorted((c for c in inventory.certificates if c.state != "ok"), key=lambda c: c.days_left))
