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


def legacy_metadata(ctx: SetContext, error: str) -> tuple[str, str]:
    path = ctx.backup_set.metadata_path
    try:
        document = jsondoc.loads(path.read_bytes()) if path else None
    except (OSError, ValueError):
        document = None
    if isinstance(document, list):
        return PASSED, f"inventory lists {len(document)} certificate(s) (the manual's format)"
    return WARNING, f"metadata unreadable: {error}; {LEGACY_DEFECT}"
