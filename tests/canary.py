"""Secret canaries outside the fault suite: a unique credential for one test, searched for
afterwards in every file the test left behind (gzip and zstd files decompressed) and in S3 objects."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any


def decompressed(data: bytes) -> bytes:
    """``data`` decompressed when it is gzip or zstd; as it is otherwise, or when it is damaged."""
    try:
        if data[:2] == b"\x1f\x8b":
            return gzip.decompress(data)
        if data[:4] == b"\x28\xb5\x2f\xfd":
            import zstandard

            return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    except Exception:  # noqa: BLE001 - a damaged file is searched as it is
        return data
    return data


def file_hits(secret: str, *places: Path) -> list[str]:
    """Files under ``places`` holding ``secret`` (raw or decompressed)."""
    needle = secret.encode()
    hits: list[str] = []
    for place in places:
        if not place.exists():
            continue
        paths = [place] if place.is_file() else [p for p in place.rglob("*") if p.is_file() and not p.is_symlink()]
        for path in paths:
            try:
                data = path.read_bytes()
            except OSError:
                continue
            if needle in data or needle in decompressed(data):
                hits.append(str(path))
    return hits


def bucket_hits(secret: str, client: Any, bucket: str, max_bytes: int = 8 * 1024 * 1024) -> list[str]:
    """Objects of ``bucket`` whose body (up to ``max_bytes``, decompressed) or user metadata holds ``secret``."""
    needle = secret.encode()
    hits: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            key = item["Key"]
            head = client.head_object(Bucket=bucket, Key=key)
            if any(secret in f"{name}={value}" for name, value in (head.get("Metadata") or {}).items()):
                hits.append(f"s3://{bucket}/{key} (metadata)")
                continue
            if item["Size"] <= max_bytes:
                body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
                if needle in body or needle in decompressed(body):
                    hits.append(f"s3://{bucket}/{key}")
    return hits
