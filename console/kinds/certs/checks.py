"""Pre-flight checks of certificate backups: CERT_DIR is readable, an encryption key is there and
works, and no certificate is about to expire (a warning: the backup still runs).
"""

from __future__ import annotations

import os

from console.errors import ConsoleError
from console.kinds.config.checks import NO_KEY_FIX, usable_key
from console.preflight import Check, CheckContext
from console.status import Status

NOT_A_DIRECTORY_FIX = {"overridable": False,
                       "fix": "point CERT_DIR (certs.cert_dir) or --cert-dir at a directory"}
"""An override cannot make a file or a missing path a directory: the run would fail when it walks it."""


def cert_dir_readable(context: CheckContext) -> tuple[Status, str] | tuple[Status, str, dict[str, object]]:
    from console.kinds.certs.inventory import cert_dir_of, discover

    directory = cert_dir_of(context.settings, context.options.get("cert_dir"))
    if not directory.is_dir():
        return Status.FAIL, f"{directory} is not a directory", NOT_A_DIRECTORY_FIX
    if not os.access(directory, os.R_OK | os.X_OK):
        return Status.FAIL, f"{directory} is not readable"
    files, truncated = discover(directory, [context.settings.backup_dir])
    unreadable = [path for path in files if not os.access(path, os.R_OK)]
    if unreadable:
        return Status.FAIL, f"{len(unreadable)} unreadable file(s), e.g. {unreadable[0]}"
    if not files:
        return Status.FAIL, f"no *.crt *.pem *.key *.p12 *.pfx *.der files under {directory}"
    extra = " (stopped early: very large directory)" if truncated else ""
    return Status.OK, f"{directory} readable: {len(files)} certificate/key file(s){extra}"


def encryption_key(context: CheckContext) -> tuple[Status, str]:
    from console.crypto import passphrase_from_settings

    try:
        passphrase = passphrase_from_settings(context.settings)
    except ConsoleError as exc:
        return Status.FAIL, exc.message
    if passphrase is None:
        return Status.FAIL, "no encryption key (set BACKUP_ENCRYPTION_KEY or encryption.key_file)", NO_KEY_FIX
    return usable_key(context, passphrase, "the archive is always encrypted")


def expiry(context: CheckContext) -> tuple[Status, str, dict[str, object]]:
    """Warns about certificates expiring soon; never blocks the backup of those very certificates."""
    from console.kinds.certs.inventory import build_inventory, cert_dir_of, iter_expiring

    directory = cert_dir_of(context.settings, context.options.get("cert_dir"))
    if not directory.is_dir():
        return Status.SKIP, f"{directory} is not a directory", {}
    inventory = build_inventory(directory, context.settings)
    summary = inventory.summary()
    urgent = list(iter_expiring(inventory))
    if not inventory.certificates:
        return Status.SKIP, "no certificates found", summary
    if not urgent:
        return Status.OK, (f"{summary['count']} certificate(s), next expiry in {summary['soonest_days']} days "
                                  f"({summary['soonest_name']})"), summary
    first = urgent[0]
    what = "expired" if first.state == "expired" else f"expires in {first.days_left} days"
    return Status.WARN, (f"{len(urgent)} certificate(s) need attention: {first.common_name or first.subject} "
                              f"({first.file}) {what} [{first.state}]"), summary


CHECKS: dict[str, Check] = {
    "cert_dir_readable": Check("certs.cert_dir_readable", "Certificate directory is readable", cert_dir_readable),
    "encryption_key": Check("certs.encryption_key", "Encryption key present and usable", encryption_key),
    # A neutral title: the state word and the evidence say which way it went ("WARN Certificate expiry: ...").
    "expiry": Check("certs.expiry", "Certificate expiry", expiry),
}
