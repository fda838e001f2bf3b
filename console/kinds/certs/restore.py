"""Restore of a certificate set into a directory: the encrypted archive (ours or the manual's
openssl one) is decrypted and extracted, with the same safety rules as a config restore.

The archive is read twice: a first pass decrypts and checks everything to the last byte
(authentication of every chunk, every tar member, the files that would be overwritten) without
writing; only then does the second pass write into the destination.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from console.catalog import BackupSet
from console.errors import CryptoError, VerifyFailed
from console.extraction import ExtractionPlan, extract_archive, plan_archive
from console.kinds.config.restore import RestoreResult, verify_checksums
from console.progress import CancelToken, ProgressCallback, ProgressEvent, emit
from console.runner import restore_run

if TYPE_CHECKING:
    from console.config import Settings


def _open(path: Path, passphrase: str, cancel: CancelToken | None):  # noqa: ANN202 - (Decryption, reader, handle)
    from console.crypto import Decryption, IterReader

    handle = open(path, "rb")  # noqa: SIM115 - closed by the caller
    decryption = Decryption(handle, passphrase, where=str(path), expect="gzip", cancel=cancel)
    return decryption, IterReader(decryption), handle


def _drain(reader, decryption, path: Path) -> None:  # noqa: ANN001
    """Read to the very end: only then is the last chunk authenticated (or the legacy gzip CRC checked)."""
    while reader.read(1 << 20):
        pass
    if decryption.result is None:
        raise CryptoError(f"{path}: the encrypted stream did not end cleanly")


def restore_certs(settings: Settings, backup_set: BackupSet, destination: Path, *, overwrite: bool = False,
                  passphrase: str | None = None, on_progress: ProgressCallback | None = None,
                  cancel: CancelToken | None = None, allow_unverified: bool = False) -> RestoreResult:
    """Decrypt and extract ``backup_set``'s archive into ``destination``.

    Raises:
        ReadOnlyRefused, ConfirmationRequired, VerifyFailed, CryptoError: see config_restore.restore_config.
    """
    from console.crypto import require_passphrase

    destination = destination.absolute()
    with restore_run(settings, "certs", backup_set.set_id, str(destination)) as run:
        archive = backup_set.file("archive")
        if archive is None:
            raise VerifyFailed(f"{backup_set.set_id} has no certificates_<ts>.tar.gz.enc archive")
        emit(on_progress, ProgressEvent("verify", message=f"checking {backup_set.set_id}"))
        verify_checksums(backup_set, allow_unverified)
        passphrase = passphrase or require_passphrase(settings)
        decryption, reader, handle = _open(archive.path, passphrase, cancel)
        with handle:
            plan = plan_archive(reader, destination, ExtractionPlan(destination))
            _drain(reader, decryption, archive.path)
        plan.require_confirmation(overwrite)
        emit(on_progress, ProgressEvent("extract", message=f"extracting {archive.path.name}"))
        decryption, reader, handle = _open(archive.path, passphrase, cancel)
        with handle:
            written = extract_archive(reader, destination, cancel,
                                      before_commit=lambda: _drain(reader, decryption, archive.path))
        run.done(f"{len(written)} file(s) restored into {destination}")
    return RestoreResult(backup_set.set_id, destination, tuple(written), (), tuple(plan.conflicts))
