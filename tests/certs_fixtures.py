"""Certificates and keys generated with ``cryptography`` for the certificate tests: valid,
expiring in 5 days, expired; RSA and EC; a PEM bundle, DER, PKCS#12 and a key that matches nothing."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

NOW = datetime.now(timezone.utc).replace(microsecond=0)
P12_PASSWORD = "p12-secret-pw"

_RSA_KEY: Any = None


def rsa_key() -> Any:
    """One 2048-bit RSA key per session is plenty and keeps the tests fast."""
    global _RSA_KEY
    if _RSA_KEY is None:
        _RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _RSA_KEY


def ec_key() -> Any:
    return ec.generate_private_key(ec.SECP256R1())


def make_cert(common_name: str, key: Any, *, days_valid: float, issuer_key: Any = None, issuer_name: str | None = None,
              sans: tuple[str, ...] = (), serial: int | None = None, started_days_ago: float = 30,
              now: datetime = NOW) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example, Inc.")])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]) if issuer_name else subject
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(serial or x509.random_serial_number())
               .not_valid_before(now - timedelta(days=started_days_ago))
               .not_valid_after(now + timedelta(days=days_valid)))
    if sans:
        names: list[x509.GeneralName] = []
        for san in sans:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(san)))
            except ValueError:
                names.append(x509.DNSName(san))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: Any) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@dataclass
class CertTree:
    root: Path
    certs: dict[str, x509.Certificate]
    key_texts: dict[str, bytes]


def build_cert_tree(root: Path) -> CertTree:
    """A CERT_DIR with every case the inventory must handle; returns what was written where."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "live").mkdir()
    (root / "legacy").mkdir()
    api_key = rsa_key()
    api = make_cert("api.example.com", api_key, days_valid=41, sans=("api.example.com", "www.example.com", "10.0.0.5"),
                    serial=0x1234ABCD)
    soon_key = ec_key()
    soon = make_cert("soon.example.com", soon_key, days_valid=5.5)
    old_key = ec_key()
    old = make_cert("old.example.com", old_key, days_valid=-3, started_days_ago=400)
    ca_key = ec_key()
    ca = make_cert("Example Root CA", ca_key, days_valid=3650)
    inter = make_cert("Example Intermediate", ec_key(), days_valid=25, issuer_key=ca_key, issuer_name="Example Root CA")
    der_cert = make_cert("der.example.com", ec_key(), days_valid=200)
    p12_key = ec_key()
    p12_cert = make_cert("p12.example.com", p12_key, days_valid=100)
    stray_key = ec_key()

    (root / "live" / "api.crt").write_bytes(pem(api))
    (root / "live" / "api.key").write_bytes(key_pem(api_key))
    (root / "live" / "soon.pem").write_bytes(pem(soon) + key_pem(soon_key))  # cert + key in one file
    (root / "legacy" / "old.crt").write_bytes(pem(old))
    (root / "chain.pem").write_bytes(pem(inter) + pem(ca))  # a bundle of two
    (root / "der.der").write_bytes(der_cert.public_bytes(serialization.Encoding.DER))
    (root / "bundle.p12").write_bytes(pkcs12.serialize_key_and_certificates(
        b"p12", p12_key, p12_cert, None, serialization.BestAvailableEncryption(P12_PASSWORD.encode())))
    (root / "stray.key").write_bytes(key_pem(stray_key))
    (root / "notes.pem").write_bytes(b"this is not a certificate\n")
    (root / "README.txt").write_text("ignored: not a certificate extension\n")
    os_key_texts = {"live/api.key": key_pem(api_key), "stray.key": key_pem(stray_key)}
    certs = {"api": api, "soon": soon, "old": old, "ca": ca, "inter": inter, "der": der_cert, "p12": p12_cert}
    for path in root.rglob("*.key"):
        path.chmod(0o600)
    return CertTree(root, certs, os_key_texts)
