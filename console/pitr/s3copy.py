"""The optional offsite copy of each archived WAL file: ``wal push --s3`` puts the stored file
and its ``.sha256`` under ``<s3.prefix>postgres/wal/`` (the prefix the retention table names), or
``<prefix>postgres@<instance>/wal/`` for a named instance (its own ``s3_prefix`` when it sets one).

Only imported with --s3, so an ordinary push never loads boto3.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from console.errors import ConsoleError
from console.instances import dir_name

if TYPE_CHECKING:
    from console.config import Settings

WAL_DIR = "wal"


def wal_key(settings: Settings, name: str) -> str:
    """The key of one archived file, for the instance ``settings`` are scoped to."""
    from console.offsite.keys import bucket_prefix  # with console.config: not on the plain push's path

    return f"{bucket_prefix(settings)}{dir_name('postgres', settings.instance_of('postgres'))}/{WAL_DIR}/{name}"


def copy_to_s3(settings: Settings, paths: list[Path]) -> list[str]:
    """Upload each file (small: one PUT each, with its SHA-256 checked by S3); returns the keys.

    Raises:
        ConsoleError: no bucket, or S3 refused or did not answer (the push then fails, and
            PostgreSQL retries it; the local copy is already safe and a retry is idempotent).
    """
    from botocore import exceptions as bexc

    from console.offsite.upload import describe, transfer_client

    if not settings.s3.bucket:
        raise ConsoleError("wal push --s3: no S3 bucket configured", hint="set BACKUP_S3_BUCKET or s3.bucket")
    client = transfer_client(settings)
    keys = []
    for path in paths:
        body = path.read_bytes()
        digest = hashlib.sha256(body).digest()
        extra = {"ServerSideEncryption": settings.s3.sse} if settings.s3.sse != "none" else {}
        if settings.s3.sse == "aws:kms" and settings.s3.kms_key_id:
            extra["SSEKMSKeyId"] = settings.s3.kms_key_id
        key = wal_key(settings, path.name)
        try:
            client.put_object(Bucket=settings.s3.bucket, Key=key, Body=body, ChecksumAlgorithm="SHA256",
                              ChecksumSHA256=base64.b64encode(digest).decode(), StorageClass=settings.s3.storage_class,
                              Metadata={"sha256": digest.hex()}, **extra)
        except (bexc.BotoCoreError, bexc.ClientError) as exc:
            raise ConsoleError(f"wal push --s3: {path.name} kept locally but not copied: {describe(exc, settings)}") \
                from None
        keys.append(key)
    return keys
