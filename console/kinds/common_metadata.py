"""The metadata fields every backup set carries besides the manual's own (producer, set id,
timestamp, artefact list with sha256, verification and S3 state, retention, force reason).

Verify, retention and the S3 upload read these fields the same way for every kind.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from console import __version__
from console.instances import set_id_of
from console.layout import new_stamp, parse_stamp

if TYPE_CHECKING:
    from console.artifacts import ArtifactInfo
    from console.config import Settings
    from console.kinds.base import BackupRequest


def fresh_stamp(*directories: Path) -> str:
    """A new ``YYYYmmdd_HHMMSS`` stamp no file in any of ``directories`` carries yet.

    Stamps have one-second resolution: a run that starts in the same second as the previous
    one (their lock only keeps them from overlapping) waits for the next second instead of
    colliding with the earlier set's names.
    """
    while True:
        stamp = new_stamp()
        marker = f"_{stamp}."
        if not any(_carries(directory, marker) for directory in directories):
            return stamp
        time.sleep(1.0 - (time.time() % 1.0) + 0.01)


def _carries(directory: Path, marker: str) -> bool:
    try:
        return any(marker in entry.name for entry in os.scandir(directory))
    except FileNotFoundError:
        return False


def crypto_tool_versions() -> dict[str, str]:
    """Versions recorded by the kinds that encrypt (config, certs): what wrote the file, with what."""
    import cryptography
    from cryptography.hazmat.backends.openssl import backend

    return {"backup-console": __version__, "python": sys.version.split()[0], "cryptography": cryptography.__version__,
            "openssl": backend.openssl_version_text()}


def iso_timestamp(stamp: str) -> str:
    """The set's stamp as ISO-8601 with the local offset (what the manual's ``date -Iseconds`` prints)."""
    return parse_stamp(stamp).isoformat(timespec="seconds")


def artifact_entry(role: str, info: ArtifactInfo, compression: str | None, **extra: Any) -> dict[str, Any]:
    return {"role": role, **info.as_metadata(), "uncompressed_bytes": info.raw_bytes, "compression": compression,
            **extra}


def common_fields(
    settings: Settings,
    request: BackupRequest,
    kind: str,
    stamp: str,
    duration_seconds: float,
    artifacts: Iterable[dict[str, Any]],
    tool_versions: dict[str, str | None],
) -> dict[str, Any]:
    """The uniform fields; the caller puts the manual's fields first and these after them."""
    fields: dict[str, Any] = {
        "producer": f"backup-console {__version__}",
        "set_id": set_id_of(kind, "", stamp, request.instance),
        "instance": request.instance,
        "timestamp": iso_timestamp(stamp),
        "finished_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "duration_seconds": round(duration_seconds, 3),
        "artifacts": list(artifacts),
        "verification_status": "pending",
        "s3_uploaded": False,
        "s3_bucket": settings.s3.bucket or None,
        "retention_days": settings.retention.backup_days,
        "tool_versions": tool_versions,
    }
    if request.force_reason:
        fields["force_reason"] = request.force_reason
    return fields
