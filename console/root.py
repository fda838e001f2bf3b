"""BackupRoot: every path under BACKUP_DIR, in one place.

The kinds' directories keep the manual's layout (``postgres/``, ``redis/`` ...; the file names
are their layouts' templates); next to them the console keeps its own state in dot-directories
that the manual's scripts never look at, and two visible ones for people: ``reports/`` and
``drills/``. Nothing else in the console joins a path onto BACKUP_DIR by hand. It sits at the
bottom of the engine (paths only), so every module, the kinds' included, may use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from console.instances import DEFAULT, dir_name


@dataclass(frozen=True)
class BackupRoot:
    path: Path
    instances: Mapping[str, str] = field(default_factory=dict)
    """kind -> the instance this root is scoped to (settings scoped with ``Settings.for_instance``);
    a kind not named is its ``default`` instance."""

    def kind_dir(self, kind: str, instance: str | None = None) -> Path:
        """``BACKUP_DIR/<kind>`` (the manual's directory, the default instance) or ``BACKUP_DIR/<kind>@<instance>``."""
        return self.path / dir_name(kind, instance or self.instances.get(kind, DEFAULT))

    @property
    def base_backups(self) -> Path:
        """PostgreSQL base backups for point-in-time recovery: ``postgres/base/<ts>/`` (the catalog of
        logical sets reads ``postgres/`` one level deep, so they stay out of its way)."""
        return self.kind_dir("postgres") / "base"

    # --- the console's own state -------------------------------------------------------------

    @property
    def locks(self) -> Path:
        """One ``<name>.lock`` per target being backed up (holder pid, host, start)."""
        return self.path / ".locks"

    def lock_file(self, name: str) -> Path:
        """``name`` already names the instance when it is not the default (``runner.lock_name``)."""
        return self.locks / f"{name}.lock"

    @property
    def run_log(self) -> Path:
        """Every run of every face, one JSON line each."""
        return self.path / ".runs" / "runs.jsonl"

    def state_file(self, name: str) -> Path:
        """Small JSON documents that remember what a scheduled check saw last (``wal-status.json``)."""
        return self.path / ".state" / name

    @property
    def pending_aborts(self) -> Path:
        """S3 multipart uploads that could not be aborted yet (retried on the next upload)."""
        return self.path / ".s3" / "pending-aborts.json"

    @property
    def alert_state(self) -> Path:
        return self.path / ".alerts" / "state.json"

    @property
    def scratch(self) -> Path:
        """Temporary files on the backup disk (a decompressed dump for ``pg_restore --jobs``)."""
        return self.path / ".tmp"

    # --- for people --------------------------------------------------------------------------

    @property
    def reports(self) -> Path:
        """Verification reports: ``backup_verification_<ts>.report`` and ``.json``."""
        return self.path / "reports"

    @property
    def drills(self) -> Path:
        """Drill transcripts: ``drill_<ts>.json`` and ``.md``."""
        return self.path / "drills"
