"""The certificates kind: an encrypted archive of CERT_DIR with an inventory of what it holds."""

from __future__ import annotations

from console.kinds.base import Kind, Option
from console.kinds.certs import backup, checks, verify
from console.kinds.certs.layout import LAYOUT

KIND = Kind(
    name="certs",
    title="Certificates",
    help="encrypted archive of TLS certificates and keys, with an inventory",
    layout=LAYOUT,
    preflight=("certs.cert_dir_readable", "certs.encryption_key", "certs.expiry", "common.s3_reachable"),
    checks=checks.CHECKS,
    run=backup.run,
    lock_name=backup.lock_name,
    verifier=verify,
    options=(Option("cert_dir", "where certificates are searched (default: CERT_DIR)", type="path", metavar="DIR"),),
    s3_type="certs",
)
