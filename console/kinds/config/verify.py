"""Configuration checks for ``verify``: the tarball lists to its end; encrypted files decrypt.

Our encrypted files must authenticate; the manual's ``openssl enc`` files have no MAC, so a
successful decryption is only a content check (defect 19). Without a key they are skipped.
"""

from __future__ import annotations

from console.catalog import BackupFile
from console.verify.checks import check_by_name
from console.verify.model import SetContext

LEGACY_DEFECT = "the manual's manifest is a fixed list, not what was archived (defect 20)"


def check_file(ctx: SetContext, item: BackupFile) -> None:
    check_by_name(ctx, item)
