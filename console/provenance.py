"""Whether a backup set was written by backup-console, even when its metadata is gone.

Our metadata carries the sha256 of every file; the manual's scripts record none. So a set whose
metadata is missing or unreadable must not be taken for a legacy set when we wrote it: that
would silently turn integrity checks off. Evidence that does not depend on the metadata: file
names only we write (``.zst``), our encryption header (``BCENC``) at the start of an ``.enc``
file, the run log's record of the backup, or our producer string in the damaged metadata.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from console.catalog import BackupSet, read_metadata
from console.errors import VerifyFailed
from console.runlog import read_runs

ALLOW_FLAG = "--allow-unverified"


def evidence(backup_set: BackupSet) -> str | None:
    """Why we know backup-console wrote this set, or None when nothing says so."""
    for item in backup_set.files:
        if item.path.name.endswith(".zst"):
            return f"{item.path.name} is zstd-compressed (only backup-console writes .zst)"
    from console.crypto import MAGIC

    for item in backup_set.files:
        if item.path.name.endswith(".enc"):
            try:
                with open(item.path, "rb") as handle:
                    if handle.read(len(MAGIC)) == MAGIC:
                        return f"{item.path.name} carries backup-console's encryption header"
            except OSError:
                continue
    backup_dir = _backup_dir(backup_set)
    if backup_dir is not None:
        if any(r.action == "backup" and r.set_id == backup_set.set_id for r in read_runs(backup_dir, limit=100_000)):
            return "the run log records backup-console writing it"
    path = backup_set.metadata_path
    if path is not None:
        try:
            with open(path, "rb") as handle:
                if b'"producer": "backup-console' in handle.read(1024 * 1024):
                    return f"{path.name} names backup-console as its producer"
        except OSError:
            pass
    return None


def _backup_dir(backup_set: BackupSet) -> Path | None:
    if not backup_set.files:
        return None
    for parent in backup_set.files[0].path.parents:
        if parent.name == backup_set.kind:
            return parent.parent
    return None


def recorded_checksums(backup_set: BackupSet, allow_unverified: bool = False, action: str = "restore") -> dict[str, str]:
    """file name -> sha256 from our metadata, before a restore (or an upload) trusts any file of the set.

    A legacy set (the manual's scripts) has none: an empty dict. A set backup-console wrote whose
    metadata is missing, unreadable or lists no checksums is refused unless ``allow_unverified``.

    Raises:
        VerifyFailed: our set without usable checksums, and no override.
    """
    read = read_metadata(backup_set)
    if read.document is not None and read.ours:
        found = _checksums(read.document)
        if found:
            return found
        proof: str | None = "its metadata names backup-console"
        why = "it lists no checksums"
    else:
        proof = evidence(backup_set)
        if proof is None:  # the manual's set: it never had checksums
            return {}
        why = read.error or "it is not backup-console's metadata (no producer, no checksums)"
    if allow_unverified:
        return {}
    metadata = backup_set.metadata_path.name if backup_set.metadata_path is not None else "(no metadata file)"
    if action != "restore":  # an upload would put files on S3 that nothing can prove whole
        raise VerifyFailed(
            f"refusing to {action} {backup_set.set_id} without checksums: backup-console wrote it ({proof}), "
            f"but its metadata {metadata} is unusable: {why}",
            hint="`backup-console verify` says more; upload an older verified set, or make a new backup")
    raise VerifyFailed(
        f"refusing to restore {backup_set.set_id} without checksums: backup-console wrote it ({proof}), "
        f"but its metadata {metadata} is unusable: {why}",
        hint=f"restore an older verified set, or accept unchecked files with {ALLOW_FLAG}")


def _checksums(document: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for artifact in document.get("artifacts") or []:
        if isinstance(artifact, dict) and isinstance(artifact.get("name"), str) and isinstance(artifact.get("sha256"), str):
            found[artifact["name"].rsplit("/", 1)[-1]] = artifact["sha256"]
    return found
