"""Restore of a configuration set into a directory: the tarball extracted, each encrypted
secret decrypted back to its original path.

Nothing is written until everything has been checked: the set's checksums (our sets), every
archive member (no path may escape the destination), the files that would be overwritten
(only with ``overwrite``) and every secret, decrypted first into temporary files beside their
targets, so a wrong key or a damaged file leaves the destination untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from console.artifacts import sha256_file
from console.catalog import BackupSet
from console.errors import VerifyFailed
from console.extraction import ExtractionPlan, commit_staged, extract_archive, plan_archive, safe_target, staged_file
from console.kinds.config.backup import original_name
from console.progress import CancelToken, ProgressCallback, ProgressEvent, check_cancel, emit
from console.provenance import recorded_checksums
from console.runner import restore_run

if TYPE_CHECKING:
    from console.config import Settings


@dataclass(frozen=True)
class RestoreResult:
    set_id: str
    destination: Path
    files: tuple[str, ...]
    secrets: tuple[str, ...]
    overwritten: tuple[str, ...]

    def as_json(self) -> dict[str, object]:
        return {"set_id": self.set_id, "destination": str(self.destination), "files": list(self.files),
                "secrets": list(self.secrets), "overwritten": list(self.overwritten)}


def verify_checksums(backup_set: BackupSet, allow_unverified: bool = False) -> None:
    """Compare every file listed in our metadata with its recorded sha256 (legacy sets have none).

    Raises:
        VerifyFailed: a file is missing or damaged, or backup-console wrote the set and its
            metadata is unusable (unless ``allow_unverified``).
    """
    recorded = recorded_checksums(backup_set, allow_unverified)
    directory = backup_set.files[0].path.parent
    for name, digest in recorded.items():
        path = directory / name
        if not path.is_file():
            raise VerifyFailed(f"{path.name} of {backup_set.set_id} is missing")
        if sha256_file(path) != digest:
            raise VerifyFailed(f"{path} does not match the sha256 recorded in the metadata: corrupt file")


def secret_targets(backup_set: BackupSet) -> list[tuple[Path, str]]:
    """(encrypted file, original relative path) for our ``enc:`` files and the manual's ``.env*.enc``."""
    found = []
    for item in backup_set.files:
        if item.role.startswith("enc:"):
            found.append((item.path, original_name(item.role)))
        elif item.role.startswith("legacy:"):
            found.append((item.path, item.path.name.removesuffix(".enc")))
    return found


def restore_config(settings: Settings, backup_set: BackupSet, destination: Path, *, overwrite: bool = False,
                   passphrase: str | None = None, on_progress: ProgressCallback | None = None,
                   cancel: CancelToken | None = None, allow_unverified: bool = False) -> RestoreResult:
    """Restore ``backup_set`` into ``destination``.

    Raises:
        ReadOnlyRefused: in read-only mode.
        ConfirmationRequired: files would be overwritten and ``overwrite`` is False.
        VerifyFailed: a checksum mismatch, a damaged archive or a path escaping ``destination``.
        CryptoError: wrong key or a damaged encrypted file.
    """
    with restore_run(settings, "config", backup_set.set_id, str(destination.absolute())) as run:
        result = _restore(settings, backup_set, destination.absolute(), overwrite, passphrase, on_progress, cancel,
                          allow_unverified)
        run.done(f"{len(result.files)} file(s), {len(result.secrets)} secret(s) restored into {destination}")
        return result


def _restore(settings: Settings, backup_set: BackupSet, destination: Path, overwrite: bool, passphrase: str | None,
             on_progress: ProgressCallback | None, cancel: CancelToken | None,
             allow_unverified: bool = False) -> RestoreResult:
    from console import crypto

    emit(on_progress, ProgressEvent("verify", message=f"checking {backup_set.set_id}"))
    verify_checksums(backup_set, allow_unverified)
    tarball = backup_set.file("tarball")
    plan = ExtractionPlan(destination)
    if tarball is not None:
        with open(tarball.path, "rb") as handle:
            plan_archive(handle, destination, plan)
    secrets = secret_targets(backup_set)
    for _source, relative in secrets:
        safe_target(destination, relative)
        plan.add(relative)
    if tarball is None and not secrets:
        raise VerifyFailed(f"{backup_set.set_id} has neither a tarball nor encrypted files")
    plan.require_confirmation(overwrite)
    if secrets and not passphrase:
        passphrase = crypto.require_passphrase(settings)
    for source, relative in secrets:  # key and integrity first: a wrong key creates nothing at all
        check_cancel(cancel)
        crypto.verify_file(source, passphrase or "", expect=crypto.expected_content(relative), cancel=cancel)
    staged: list[tuple[Path, Path]] = []
    try:
        for source, relative in secrets:
            check_cancel(cancel)
            emit(on_progress, ProgressEvent("decrypt", message=f"decrypting {relative}"))
            target = safe_target(destination, relative)
            temporary, out = staged_file(target)
            staged.append((temporary, target))
            with out, open(source, "rb") as handle:
                crypto.decrypt_stream(handle, out, passphrase or "", where=str(source),
                                      expect=crypto.expected_content(relative), cancel=cancel)
        written: list[str] = []
        if tarball is not None:
            emit(on_progress, ProgressEvent("extract", message=f"extracting {tarball.path.name}"))
            with open(tarball.path, "rb") as handle:
                written = extract_archive(handle, destination, cancel)
        for temporary, target in staged:
            commit_staged(temporary, target)
        staged.clear()
    finally:
        for temporary, _target in staged:
            temporary.unlink(missing_ok=True)
    return RestoreResult(backup_set.set_id, destination, tuple(written), tuple(rel for _s, rel in secrets),
                         tuple(plan.conflicts))
