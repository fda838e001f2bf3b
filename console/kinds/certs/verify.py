"""Certificate checks for ``verify``: the encrypted archive decrypts (and authenticates) and lists.

The manual's inventory ``cert_inventory_<ts>.json`` is a JSON array, not an object, and does not
escape subjects (defect 22): an array is accepted as its format, invalid JSON is a warning.
"""

from __future__ import annotations


from console import jsondoc
from console.catalog import BackupFile
from console.verify.checks import check_by_name
from console.verify.model import PASSED, WARNING, SetContext

LEGACY_DEFECT = "the manual's inventory does not escape certificate subjects for JSON (defect 22)"


def check_file(ctx: SetContext, item: BackupFile) -> None:
    check_by_name(ctx, item)


def split_legacy_inventory(entries: list[object]) -> tuple[list[dict[str, object]], list[object]]:
    """The manual lists every *.pem it copied, keys included: an entry whose subject and dates openssl
    could not read (all empty) is not a certificate. Returns (certificates, other entries)."""
    certificates: list[dict[str, object]] = []
    others: list[object] = []
    for entry in entries:
        if isinstance(entry, dict) and any(str(entry.get(key) or "").strip()
                                           for key in ("subject", "valid_to", "valid_from", "issuer")):
            certificates.append(entry)
        else:
            others.append(entry)
    return certificates, others


def legacy_metadata(ctx: SetContext, error: str) -> tuple[str, str]:
    path = ctx.backup_set.metadata_path
    try:
        document = jsondoc.loads(path.read_bytes()) if path else None
    except (OSError, ValueError):
        document = None
    if isinstance(document, list):
        certificates, others = split_legacy_inventory(document)
        extra = f"; {len(others)} entr(y/ies) openssl could not read as a certificate (a key copy?)" if others else ""
        return PASSED, f"inventory lists {len(certificates)} certificate(s) (the manual's format){extra}"
    return WARNING, f"metadata unreadable: {error}; {LEGACY_DEFECT}"
