"""What a verification is made of: check outcomes, a set's verification, a run's report, and the
context a kind's checks see. The bottom of console.verify: it imports nothing above it, so the
kinds' verifiers, the shared checks, the runner and the reports can all import it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from console.catalog import BackupSet, MetadataRead, artifact_entry
from console.errors import Cancelled, ConfigError, ConsoleError
from console.kinds.layouts import LAYOUTS
from console.progress import CancelToken, ProgressCallback, check_cancel
from console.status import Status

if TYPE_CHECKING:
    from console.config import Settings

PASSED, FAILED, WARNING, SKIPPED = (status.report_word for status in (Status.OK, Status.FAIL, Status.WARN, Status.SKIP))
"""A report's words for console.status.Status (reports and metadata keep them: scripts read them)."""
STATUS_ORDER = {FAILED: 0, WARNING: 1, PASSED: 2, SKIPPED: 3}



@dataclass(frozen=True)
class CheckOutcome:
    """One check of one file (or of the set): status, and a line saying what was found."""

    check: str
    status: str
    message: str
    file: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"check": self.check, "status": self.status, "file": self.file, "message": self.message,
                "details": dict(self.details)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CheckOutcome:
        return cls(str(data.get("check", "")), str(data.get("status", "")), str(data.get("message", "")),
                   data.get("file"), dict(data.get("details") or {}))


def count_statuses(outcomes: Iterable[CheckOutcome]) -> dict[str, int]:
    counts = {PASSED: 0, FAILED: 0, WARNING: 0, SKIPPED: 0}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return counts


def overall(outcomes: Iterable[CheckOutcome]) -> str:
    statuses = {outcome.status for outcome in outcomes}
    if FAILED in statuses:
        return FAILED
    if WARNING in statuses:
        return WARNING
    return PASSED


@dataclass(frozen=True)
class SetVerification:
    """Every check of one set, and what was written back into its metadata."""

    set_id: str
    kind: str
    name: str
    timestamp: str
    status: str
    checks: tuple[CheckOutcome, ...]
    files: tuple[Mapping[str, Any], ...]
    metadata_path: str | None
    metadata_written: bool
    s3: Mapping[str, Any] | None
    duration_seconds: float

    @property
    def counts(self) -> dict[str, int]:
        return count_statuses(self.checks)

    def failed_first(self) -> list[CheckOutcome]:
        return sorted(self.checks, key=lambda outcome: STATUS_ORDER.get(outcome.status, 9))

    def as_json(self) -> dict[str, Any]:
        return {"set_id": self.set_id, "kind": self.kind, "name": self.name, "timestamp": self.timestamp,
                "status": self.status, "counts": self.counts, "duration_seconds": round(self.duration_seconds, 3),
                "metadata_path": self.metadata_path, "metadata_written": self.metadata_written,
                "files": [dict(item) for item in self.files], "s3": dict(self.s3) if self.s3 else None,
                "checks": [outcome.as_json() for outcome in self.checks]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SetVerification:
        return cls(str(data.get("set_id", "")), str(data.get("kind", "")), str(data.get("name", "")),
                   str(data.get("timestamp", "")), str(data.get("status", "")),
                   tuple(CheckOutcome.from_json(item) for item in data.get("checks") or []),
                   tuple(dict(item) for item in data.get("files") or []), data.get("metadata_path"),
                   bool(data.get("metadata_written")), data.get("s3"), float(data.get("duration_seconds") or 0.0))


@dataclass(frozen=True)
class VerifyReport:
    """One verification run over a selection of sets."""

    started_at: str
    finished_at: str
    duration_seconds: float
    deep: bool
    kinds: tuple[str, ...]
    sets: tuple[SetVerification, ...]
    report_name: str
    """``backup_verification_<ts>`` (the .report and .json files share it)."""

    @property
    def counts(self) -> dict[str, int]:
        return count_statuses(outcome for item in self.sets for outcome in item.checks)

    @property
    def status(self) -> str:
        return FAILED if any(item.status == FAILED for item in self.sets) else PASSED

    @property
    def ok(self) -> bool:
        return self.status == PASSED

    def as_json(self) -> dict[str, Any]:
        counts = self.counts
        return {"schema": "backup-console/verify-report/1", "report": self.report_name, "status": self.status,
                "started_at": self.started_at, "finished_at": self.finished_at,
                "duration_seconds": round(self.duration_seconds, 3), "deep": self.deep, "kinds": list(self.kinds),
                "summary": {"sets": len(self.sets), "sets_failed": sum(s.status == FAILED for s in self.sets),
                            "sets_warning": sum(s.status == WARNING for s in self.sets),
                            "passed": counts[PASSED], "failed": counts[FAILED], "warnings": counts[WARNING],
                            "skipped": counts[SKIPPED]},
                "sets": [item.as_json() for item in self.sets]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VerifyReport:
        return cls(str(data.get("started_at", "")), str(data.get("finished_at", "")),
                   float(data.get("duration_seconds") or 0.0), bool(data.get("deep")), tuple(data.get("kinds") or ()),
                   tuple(SetVerification.from_json(item) for item in data.get("sets") or []), str(data.get("report", "")))


class PendingHash:
    """A SHA-256 taken while a check reads the file; ``complete`` once every byte went through."""

    def __init__(self, position: int, size: int) -> None:
        self.position = position
        """Where its outcome goes in the set's outcomes: the place of the check that deferred it."""
        self.size = size
        self.seen = 0
        self.started = False
        self._digest = hashlib.sha256()

    def update(self, chunk: bytes) -> None:
        self._digest.update(chunk)
        self.seen += len(chunk)

    @property
    def complete(self) -> bool:
        return self.started and self.seen == self.size

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


class SetContext:
    """What a kind's checks see of one set, and where they put their outcomes."""

    def __init__(self, settings: Settings, backup_set: BackupSet, metadata: MetadataRead, deep: bool,
                 now: datetime, cancel: CancelToken | None, on_progress: ProgressCallback | None,
                 daily: bool = False) -> None:
        self.settings = settings
        self.daily = daily
        """The set's kind is backed up every night, so its age matters."""
        self.backup_set = backup_set
        self.metadata = metadata
        self.deep = deep
        self.now = now
        self.cancel = cancel
        self.on_progress = on_progress
        self.outcomes: list[CheckOutcome] = []
        self.sha256: dict[str, str] = {}
        self._pending_hashes: dict[str, PendingHash] = {}
        self._passphrase: str | None | bool = False

    @property
    def document(self) -> dict[str, Any] | None:
        return self.metadata.document

    def add(self, check: str, status: str, message: str, file: str | None = None, **details: Any) -> None:
        self.outcomes.append(CheckOutcome(check, status, message, file, details))

    def run(self, check: str, file: str | None, action: Callable[[], str | tuple[str, str] | None]) -> None:
        """Run one check: its return is the passed line (or (status, line)); any error fails it."""
        check_cancel(self.cancel)
        try:
            outcome = action()
        except Cancelled:
            raise
        except ConsoleError as exc:
            self.add(check, FAILED, exc.message, file)
            return
        except OSError as exc:
            self.add(check, FAILED, f"cannot read {file or 'the set'}: {exc.strerror or exc}", file)
            return
        except Exception as exc:  # a broken check is a failed check, never a crashed verification
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            self.add(check, FAILED, f"check error: {type(exc).__name__}: {text}", file)
            return
        if outcome is None:
            return
        if isinstance(outcome, tuple):
            self.add(check, outcome[0], outcome[1], file)
        else:
            self.add(check, PASSED, outcome, file)

    def defer_hash(self, name: str, size: int) -> None:
        """The SHA-256 check of ``name`` goes here; its bytes are hashed by the first full read of it."""
        self._pending_hashes[name] = PendingHash(len(self.outcomes), size)

    def raw_observer(self, name: str) -> Callable[[bytes], None] | None:
        """What a check reading ``name`` from its start hands every raw chunk to (first reader only)."""
        pending = self._pending_hashes.get(name)
        if pending is None or pending.started:
            return None
        pending.started = True
        return pending.update

    def has_checksum(self, name: str) -> bool:
        """A SHA-256 is recorded for ``name`` (compared, or to be compared after the kind's checks)."""
        return name in self.sha256 or name in self._pending_hashes

    def take_hash(self, name: str) -> PendingHash | None:
        return self._pending_hashes.pop(name, None)

    def passphrase(self) -> str | None:
        """The encryption passphrase, or None (checks then report "skipped: no key")."""
        if self._passphrase is False:
            from console.crypto import passphrase_from_settings

            try:
                self._passphrase = passphrase_from_settings(self.settings)
            except ConfigError:
                self._passphrase = None
        return self._passphrase  # type: ignore[return-value]

    def artifact(self, name: str) -> Mapping[str, Any] | None:
        """Our metadata's ``artifacts`` entry for a file name."""
        return artifact_entry(self.document, name)


def primary_name(backup_set: BackupSet) -> str | None:
    """The file a set's overall checks (age, deep restore) are reported under."""
    for role in LAYOUTS[backup_set.kind].primary_roles:
        item = backup_set.file(role)
        if item is not None:
            return item.path.name
    return backup_set.files[0].path.name if backup_set.files else None
