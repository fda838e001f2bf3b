"""TLS certificate backups (kind "certs"): ``certificates_<ts>.tar.gz.enc`` (our authenticated
format) of every certificate and key under CERT_DIR, and ``cert_inventory_<ts>.json``.

The tar.gz is streamed straight into the encryptor, so no plaintext key ever touches the
backup directory (the manual copied keys there and left them). BACKUP_DIR is never archived
into itself. The inventory is this kind's metadata: a JSON object with the common fields and
``certificates``; the manual wrote a bare JSON array, which verify reads as that format
(``console.kinds.certs.verify``).
"""

from __future__ import annotations

import tarfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console import __version__
from console.artifacts import ArtifactSet
from console.errors import BackupFailed
from console.instances import set_id_of
from console.kinds.base import BackupRequest, BackupResult
from console.kinds.certs.layout import LAYOUT
from console.kinds.common_metadata import crypto_tool_versions, fresh_stamp
from console.layout import parse_stamp
from console.progress import CancelToken, ProgressCallback, ProgressEvent, Throttle, check_cancel, emit

if TYPE_CHECKING:
    from console.config import Settings


def lock_name(settings: Settings, request: BackupRequest) -> str:
    return "certs"


def cert_dir(settings: Settings, request: BackupRequest | None = None) -> Path:
    from console.kinds.certs.inventory import cert_dir_of

    return cert_dir_of(settings, request.options.get("cert_dir") if request else None)


def run(settings: Settings, request: BackupRequest, on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None) -> BackupResult:
    from console import crypto
    from console.kinds.certs.inventory import build_inventory

    started = time.time()
    progress = Throttle(on_progress)
    stamp = fresh_stamp(settings.root.kind_dir("certs"))
    when = parse_stamp(stamp)
    source = cert_dir(settings, request)
    if not source.is_dir():
        raise BackupFailed(f"certificate directory {source} is not a directory", hint="set CERT_DIR or pass --cert-dir")
    emit(progress, ProgressEvent("inventory", message=f"reading certificates under {source}"))
    inventory = build_inventory(source, settings)
    if not inventory.files:
        raise BackupFailed(f"no certificate or key files (*.crt *.pem *.key *.p12 *.pfx *.der) under {source}")
    passphrase = crypto.require_passphrase(settings)
    archive_name = LAYOUT.name("archive", stamp)
    with ArtifactSet(settings.root.kind_dir("certs"), settings.dir_mode_bits, settings.file_mode_bits) as files:
        with files.create(archive_name) as out:
            encryptor = crypto.EncryptingWriter(out, passphrase, cancel=cancel)
            tar_bytes = _write_archive(source, inventory.files, encryptor, progress, cancel)
            encryptor.close()
        archive = files.infos[-1]
        document = {
            "producer": f"backup-console {__version__}",
            "set_id": set_id_of("certs", "", stamp, request.instance),
            "instance": request.instance,
            "timestamp": when.isoformat(timespec="seconds"),
            "duration_seconds": round(time.time() - started, 3),
            "cert_dir": str(source),
            "files_included": inventory.files,
            "summary": inventory.summary(),
            "certificates": [cert.as_json() for cert in inventory.certificates],
            "keys": [{"file": key.file, "key_type": key.key_type, "key_size": key.key_size, "matches": key.matches}
                     for key in inventory.keys],
            "problems": [{"file": problem.file, "message": problem.message} for problem in inventory.problems],
            "artifacts": [{"role": "archive", "name": archive.name, "size_bytes": archive.size_bytes,
                           "sha256": archive.sha256, "plaintext_tar_gz_bytes": tar_bytes,
                           "files": len(inventory.files)}],
            "encryption": {"format": crypto.FORMAT_NAME, "kdf": "scrypt", "cipher": "AES-256-GCM"},
            "verification_status": "pending",
            "s3_uploaded": False,
            "s3_bucket": settings.s3.bucket or None,
            "retention_days": settings.retention.backup_days,
            **({"force_reason": request.force_reason} if request.force_reason else {}),
            "tool_versions": crypto_tool_versions(),
        }
        metadata = files.write_json(LAYOUT.name("metadata", stamp), document)
    summary = inventory.summary()
    return BackupResult(
        "certs", "", "ok",
        f"{len(inventory.files)} file(s) archived, {summary['count']} certificate(s), {summary['keys']} key(s)",
        set_id=set_id_of("certs", "", stamp, settings.instance_of("certs")), files=tuple(files.infos), metadata_path=metadata.path,
        duration_seconds=time.time() - started, extra={"summary": summary},
    )


class _Counting:
    """Counts the bytes of the gzip stream on their way to the encryptor."""

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self.count = 0

    def write(self, data: bytes) -> int:
        self.sink.write(data)
        self.count += len(data)
        return len(data)


def _write_archive(source: Path, relatives: list[str], sink: Any, progress: Throttle,
                   cancel: CancelToken | None) -> int:
    counter = _Counting(sink)
    done = 0
    with tarfile.open(fileobj=counter, mode="w|gz", format=tarfile.PAX_FORMAT) as tar:
        for relative in relatives:
            check_cancel(cancel)
            path = source / relative
            try:
                # Always the content, never a link: certbot's live/ links point outside CERT_DIR,
                # and a restore refuses links that leave its destination.
                with open(path, "rb") as handle:
                    info = tar.gettarinfo(arcname=relative, fileobj=handle)
                    tar.addfile(info, handle)
            except OSError as exc:
                raise BackupFailed(f"cannot read {path}: {exc.strerror or exc}") from None
            done += info.size
            emit(progress, ProgressEvent("archive", done, None))
    emit(progress, ProgressEvent("archive", done, None, finished=True))
    return counter.count
