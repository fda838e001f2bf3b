"""RabbitMQ checks for ``verify``: the definitions export parses and holds what a restore needs.

A full export (``GET /api/definitions``, ``rabbitmqctl export_definitions``) carries users and
vhosts; a per-vhost export does not, which is noted but not a failure. The listing files
(queues, exchanges, ...) get their compression and JSON checks by name.
"""

from __future__ import annotations

from console.catalog import BackupFile
from console.compressed import compression_of
from console.errors import VerifyFailed
from console.integrity import load_json
from console.verify.checks import check_by_name, check_stream
from console.verify.model import FAILED, WARNING, SetContext

REQUIRED_KEYS = ("queues", "exchanges", "bindings")
VERSION_KEYS = ("rabbit_version", "rabbitmq_version")
FULL_EXPORT_KEYS = ("users", "vhosts")
LEGACY_DEFECT = "the manual's metadata is built from rabbitmqctl text output (defect 12)"


def check_file(ctx: SetContext, item: BackupFile) -> None:
    name = item.path.name
    if item.role == "definitions" and not name.endswith(".enc"):  # encrypted definitions: decrypt check
        if compression_of(name) and check_stream(ctx, item) is None:
            return
        ctx.run("definitions", name, lambda: _definitions(ctx, item))
    else:
        check_by_name(ctx, item)


def _definitions(ctx: SetContext, item: BackupFile) -> str:
    document = load_json(item.path, ctx.cancel)
    if not isinstance(document, dict):
        raise VerifyFailed(f"definitions file {item.path.name} is not a JSON object")
    missing = [key for key in REQUIRED_KEYS if not isinstance(document.get(key), list)]
    if not any(key in document for key in VERSION_KEYS):
        missing.append("rabbit_version")
    if missing:
        raise VerifyFailed(f"definitions lack {', '.join(missing)}: not a RabbitMQ definitions export")
    counts = ", ".join(f"{len(document[key])} {key}" for key in REQUIRED_KEYS)
    scope = "full export" if all(key in document for key in FULL_EXPORT_KEYS) else "vhost export (no users/vhosts)"
    return f"definitions valid ({scope}: {counts})"


def missing_metadata(ctx: SetContext) -> tuple[str, str]:
    """The manual's script stops at Step 4 (defect 11): its sets have plain listings and no metadata."""
    names = [item.path.name for item in ctx.backup_set.files]
    if names and all(not compression_of(name) for name in names):
        return WARNING, ("no metadata: the manual's script stops at Step 4 (list_bindings, defect 11) before "
                         "writing it and before compressing")
    return FAILED, "metadata file missing: the set cannot be checked against its record"
