from __future__ import annotations

import time
from pathlib import Path

from console.artifacts import ArtifactSet
from console.kinds.base import BackupRequest, BackupResult
from console.kinds.common_metadata import artifact_entry, common_fields, fresh_stamp
from tests.sixth_kind.layout import LAYOUT


def lock_name(settings, request: BackupRequest) -> str:  # noqa: ANN001
    return "notes"


def run(settings, request: BackupRequest, on_progress=None, cancel=None) -> BackupResult:  # noqa: ANN001
    started = time.time()
    directory = settings.root.kind_dir("notes")
    stamp = fresh_stamp(directory)
    data = Path(request.target or "").read_bytes()
    if request.options.get("upper"):
        data = data.upper()
    with ArtifactSet(directory) as files:
        info = files.write_bytes(LAYOUT.name("notes", stamp), data, compression="gzip")
        document = common_fields(settings, request, "notes", stamp, time.time() - started,
                                 [artifact_entry("notes", info, "gzip")], {})
        metadata = files.write_json(LAYOUT.name("metadata", stamp), document)
    return BackupResult("notes", request.target or "", "ok", "notes copied", f"notes/{stamp}", tuple(files.infos),
                        metadata.path, time.time() - started)
