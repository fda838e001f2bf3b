"""Backups: one module per kind, all run through ``runner.execute`` (lock, pre-flight, run log).

A kind module (``BACKUP_MODULES``) provides:

* ``PREFLIGHT: list[str]`` - the check ids run before a backup (see console.preflight);
* ``lock_name(settings, request) -> str`` - one lock per target (e.g. ``postgres-mydb``);
* ``run(settings, request, on_progress, cancel) -> BackupResult`` - writes the set through
  ``console.artifacts.ArtifactSet`` so a failure leaves nothing that looks complete.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Mapping

from console.artifacts import ArtifactInfo
from console.errors import UsageError
from console.preflight import CheckResult

BACKUP_MODULES: dict[str, str] = {
    "postgres": "console.backups.postgres",
    "redis": "console.backups.redis",
    "rabbitmq": "console.backups.rabbitmq",
    "config": "console.backups.configfiles",
    "certs": "console.backups.certs",
}


@dataclass(frozen=True)
class BackupRequest:
    kind: str
    target: str | None = None
    """What to back up within the kind: a database name for PostgreSQL, else None."""
    force_reason: str | None = None
    """Set when the operator overrode failed pre-flight checks; recorded in metadata and run log."""
    upload: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    """Kind-specific switches, e.g. {"no_sql": True}, {"no_aof": True}, {"archive": True}."""


@dataclass(frozen=True)
class BackupResult:
    kind: str
    target: str
    status: str
    """"ok", "failed" or "cancelled"."""
    message: str
    set_id: str | None = None
    files: tuple[ArtifactInfo, ...] = ()
    metadata_path: Path | None = None
    duration_seconds: float = 0.0
    checks: tuple[CheckResult, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "target": self.target,
            "status": self.status,
            "message": self.message,
            "set_id": self.set_id,
            "files": [{"name": f.name, "path": str(f.path), "size_bytes": f.size_bytes, "sha256": f.sha256} for f in self.files],
            "metadata_path": str(self.metadata_path) if self.metadata_path else None,
            "duration_seconds": round(self.duration_seconds, 3),
            "checks": [check.as_json() for check in self.checks],
            **({"extra": dict(self.extra)} if self.extra else {}),
        }


def backup_module(kind: str) -> ModuleType:
    if kind not in BACKUP_MODULES:
        raise UsageError(f"unknown backup kind '{kind}' (choose from {', '.join(BACKUP_MODULES)})")
    return importlib.import_module(BACKUP_MODULES[kind])
