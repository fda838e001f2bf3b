"""Pre-flight checks of configuration backups: the source tree is readable, an encryption key
is there when secrets need encrypting, and the destination accepts files.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from console.errors import ConsoleError
from console.preflight import Check, CheckContext, destination_writable
from console.status import Status


def _source(context: CheckContext) -> Path:
    from console.kinds.config.backup import source_dir

    return Path(context.options["source"]).expanduser().absolute() if context.options.get("source") \
        else source_dir(context.settings)


NOT_A_DIRECTORY_FIX = {"overridable": False,
                       "fix": "point CONFIG_SOURCE_DIR (config_backup.source_dir) or --source at a directory"}
"""An override cannot make a file or a missing path a directory: the run would fail when it walks it."""


def source_readable(context: CheckContext) -> tuple[Status, str] | tuple[Status, str, dict[str, object]]:
    source = _source(context)
    if not source.is_dir():
        return Status.FAIL, f"{source} is not a directory", NOT_A_DIRECTORY_FIX
    if not os.access(source, os.R_OK | os.X_OK):
        return Status.FAIL, f"{source} is not readable"
    from console.kinds.config.backup import build_plan

    try:
        plan = build_plan(context.settings, source)
    except ConsoleError as exc:
        return Status.FAIL, exc.message
    unreadable = [relative for relative in plan.archived + plan.secrets
                  if not (source / relative).is_symlink() and not os.access(source / relative, os.R_OK)]
    if unreadable:
        return Status.FAIL, f"{len(unreadable)} unreadable file(s) under {source}, e.g. {unreadable[0]}"
    return Status.OK, f"{source} readable: {len(plan.archived)} file(s) to archive, {len(plan.secrets)} to encrypt"


NO_KEY_FIX = {"overridable": False,
              "fix": "set BACKUP_ENCRYPTION_KEY or encryption.key_file (a starting run cannot encrypt without it)"}
"""A missing key is not a risk to accept: the run would fail when it encrypts, so no override is offered."""


def encryption_key(context: CheckContext) -> tuple[Status, str] | tuple[Status, str, dict[str, object]]:
    """A key is needed only when there are secret files to encrypt; it must derive a working key."""
    from console.crypto import passphrase_from_settings
    from console.kinds.config.backup import build_plan

    try:
        passphrase = passphrase_from_settings(context.settings)
    except ConsoleError as exc:
        return Status.FAIL, exc.message
    try:
        secrets = build_plan(context.settings, _source(context)).secrets
    except ConsoleError:
        secrets = []
    if passphrase is None:
        if secrets:
            return Status.FAIL, (f"no encryption key (BACKUP_ENCRYPTION_KEY or encryption.key_file) but "
                                      f"{len(secrets)} secret file(s) to encrypt, e.g. {secrets[0]}"), NO_KEY_FIX
        return Status.OK, "no secret files to encrypt; no key needed"
    return usable_key(context, passphrase, f"{len(secrets)} secret file(s) to encrypt")


def usable_key(context: CheckContext, passphrase: str, what: str) -> tuple[Status, str]:
    """Encrypt and decrypt a few bytes with the key: proves it works before any real data is touched."""
    from console import crypto

    sample = b"backup-console key check\n"
    sealed = io.BytesIO()
    crypto.encrypt_stream(io.BytesIO(sample), sealed, passphrase)
    opened = io.BytesIO()
    crypto.decrypt_stream(io.BytesIO(sealed.getvalue()), opened, passphrase)
    if opened.getvalue() != sample:
        return Status.FAIL, "the key does not round-trip"
    source = "encryption.key_file" if not context.settings.encryption.key else "encryption.key"
    weak = len(passphrase) < 12
    return (Status.WARN if weak else Status.OK,
            f"key from {source} works ({what})" + ("; it is shorter than 12 characters" if weak else ""))


def destination(context: CheckContext) -> tuple[Status, str]:
    return destination_writable(context.settings.root.kind_dir("config"))


CHECKS: dict[str, Check] = {
    "source_readable": Check("config.source_readable", "Configuration source is readable", source_readable),
    "encryption_key": Check("config.encryption_key", "Encryption key present and usable", encryption_key),
    "destination_writable": Check("config.destination_writable", "Backup destination is writable", destination),
}
