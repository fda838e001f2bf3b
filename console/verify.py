"""Verification of backup sets, ours and the manual's: select, run every check, record, report.

For each set of the catalog this runs the checks every kind shares (``console.verify_checks``:
metadata present and sane, SHA-256 against the metadata's ``artifacts``, age of the newest set,
the S3 copy when one was uploaded) and the kind's own (``console/backups/<kind>_verify.py``:
dumps readable, RDB checksum, definitions complete, archives list, encrypted files
authenticate). ``deep`` adds a restore into a scratch target. Results go into each set's
metadata (atomic rewrite; the manual's unreadable metadata is left alone) and into a report
(``console.reports``).
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from console.artifacts import write_json_atomic
from console.catalog import KINDS, PRIMARY_ROLES, BackupSet, MetadataRead, read_metadata, scan
from console.errors import Cancelled, ConfigError, ConsoleError, UsageError
from console.progress import CancelToken, ProgressCallback, ProgressEvent, check_cancel, emit
from console.runlog import RunRecord, record_run

if TYPE_CHECKING:
    from console.config import Settings

PASSED, FAILED, WARNING, SKIPPED = "passed", "failed", "warning", "skipped"
STATUS_ORDER = {FAILED: 0, WARNING: 1, PASSED: 2, SKIPPED: 3}

VERIFIERS: dict[str, str] = {
    "postgres": "console.backups.postgres_verify",
    "redis": "console.backups.redis_verify",
    "rabbitmq": "console.backups.rabbitmq_verify",
    "config": "console.backups.config_verify",
    "certs": "console.backups.certs_verify",
}
"""kind -> module with ``check_file(ctx, item)`` and optionally ``deep_check(ctx)`` and ``LEGACY_DEFECT``."""

DAILY_KINDS = ("postgres", "redis", "rabbitmq")
"""Kinds the manual backs up daily; config and certificates are backed up on change."""
MAX_AGE_SECONDS = 24 * 3600


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


class SetContext:
    """What a kind's checks see of one set, and where they put their outcomes."""

    def __init__(self, settings: Settings, backup_set: BackupSet, metadata: MetadataRead, deep: bool,
                 now: datetime, cancel: CancelToken | None, on_progress: ProgressCallback | None) -> None:
        self.settings = settings
        self.backup_set = backup_set
        self.metadata = metadata
        self.deep = deep
        self.now = now
        self.cancel = cancel
        self.on_progress = on_progress
        self.outcomes: list[CheckOutcome] = []
        self.sha256: dict[str, str] = {}
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
        for entry in (self.document or {}).get("artifacts") or []:
            if isinstance(entry, dict) and str(entry.get("name", "")).rsplit("/", 1)[-1] == name:
                return entry
        return None


# --- selection -------------------------------------------------------------------------------


def select_sets(settings: Settings, kind: str | None = None, set_id: str | None = None) -> tuple[list[BackupSet], set[str]]:
    """The sets to verify, and the ids of the newest set of each kind/name (for the age check)."""
    if kind is not None and kind not in KINDS:
        raise UsageError(f"unknown kind '{kind}' (choose from {', '.join(KINDS)})")
    catalog = scan(settings.backup_dir, [kind] if kind else KINDS)
    newest = {item.set_id for item in catalog.latest_per_target()}
    sets = catalog.sets
    if set_id is not None:
        sets = [item for item in sets if item.set_id == set_id]
        if not sets:
            known = ", ".join(item.set_id for item in catalog.sets[-3:]) or "none"
            raise UsageError(f"no backup set '{set_id}' under {settings.backup_dir} (newest: {known})")
    return sets, newest


# --- running -----------------------------------------------------------------------------------


def verify(
    settings: Settings,
    kind: str | None = None,
    set_id: str | None = None,
    deep: bool = False,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    now: datetime | None = None,
    write_report: bool = True,
) -> VerifyReport:
    """Verify the selected sets, record each result in its metadata, write the report files.

    Raises:
        UsageError: unknown kind or set id.
        Cancelled: the operator cancelled (sets verified so far keep their recorded results).
    """
    from console import reports

    started = time.time()
    started_at = datetime.now().astimezone()
    report_name = reports.free_report_name(settings, started_at)
    sets, newest = select_sets(settings, kind, set_id)
    results: list[SetVerification] = []
    for index, backup_set in enumerate(sets):
        check_cancel(cancel)
        emit(on_progress, ProgressEvent("verify", index, len(sets), unit="sets", message=f"checking {backup_set.set_id}"))
        result = verify_set(settings, backup_set, deep=deep, newest=backup_set.set_id in newest,
                            now=now or datetime.now().astimezone(), cancel=cancel, on_progress=on_progress,
                            report_name=report_name)
        results.append(result)
    emit(on_progress, ProgressEvent("verify", len(sets), len(sets), unit="sets", finished=True))
    finished_at = datetime.now().astimezone()
    kinds = (kind,) if kind else KINDS
    report = VerifyReport(started_at.isoformat(timespec="seconds"), finished_at.isoformat(timespec="seconds"),
                          time.time() - started, deep, kinds, tuple(results), report_name)
    if write_report:
        reports.write_report(settings, report)
    counts = report.counts
    record_run(settings.backup_dir, RunRecord(
        action="verify", kind=kind or "all", target=set_id or "", status="ok" if report.ok else "failed",
        started=started, finished=time.time(),
        message=f"{len(results)} set(s): {counts[PASSED]} passed, {counts[FAILED]} failed, {counts[WARNING]} warnings",
        extra={"report": report_name, "deep": deep}))
    return report


def verify_set(
    settings: Settings,
    backup_set: BackupSet,
    deep: bool = False,
    newest: bool = True,
    now: datetime | None = None,
    cancel: CancelToken | None = None,
    on_progress: ProgressCallback | None = None,
    report_name: str | None = None,
    record: bool = True,
) -> SetVerification:
    """Run every check of one set; with ``record``, write the result into its metadata."""
    from console.verify_checks import check_age, check_metadata, check_missing_artifacts, check_offsite, check_recorded

    started = time.time()
    now = now or datetime.now().astimezone()
    ctx = SetContext(settings, backup_set, read_metadata(backup_set), deep, now, cancel, on_progress)
    verifier = _verifier(backup_set.kind)
    check_metadata(ctx, verifier)
    for item in backup_set.files:
        if item.role == "metadata":
            continue
        check_cancel(cancel)
        check_recorded(ctx, item)
        if verifier is not None:
            verifier.check_file(ctx, item)
    check_missing_artifacts(ctx)
    if newest:
        check_age(ctx)
    s3_section = check_offsite(ctx)
    if deep and verifier is not None and hasattr(verifier, "deep_check"):
        ctx.run("deep", primary_name(backup_set), lambda: verifier.deep_check(ctx))
    status = overall(ctx.outcomes)
    written = _record(ctx, status, report_name) if record else False
    files = tuple({"name": item.path.name, "path": str(item.path), "role": item.role, "size_bytes": item.size_bytes,
                   "sha256": ctx.sha256.get(item.path.name)}
                  for item in sorted(backup_set.files, key=lambda f: f.role == "metadata"))
    return SetVerification(backup_set.set_id, backup_set.kind, backup_set.name,
                           backup_set.timestamp.isoformat(timespec="seconds"), status, tuple(ctx.outcomes), files,
                           str(backup_set.metadata_path) if backup_set.metadata_path else None, written,
                           s3_section, time.time() - started)


def _verifier(kind: str) -> Any:
    try:
        return importlib.import_module(VERIFIERS[kind])
    except ModuleNotFoundError as exc:
        if exc.name == VERIFIERS[kind]:
            return None
        raise


def primary_name(backup_set: BackupSet) -> str | None:
    """The file a set's overall checks (age, deep restore) are reported under."""
    for role in PRIMARY_ROLES[backup_set.kind]:
        item = backup_set.file(role)
        if item is not None:
            return item.path.name
    return backup_set.files[0].path.name if backup_set.files else None


# --- recording --------------------------------------------------------------------------------


def _record(ctx: SetContext, status: str, report_name: str | None) -> bool:
    """Write the result into the set's metadata (plain JSON objects only; re-read just before)."""
    path = ctx.backup_set.metadata_path
    if path is None or not path.name.endswith(".json") or ctx.metadata.document is None:
        return False
    from console.offsite import read_metadata_path

    current = read_metadata_path(path)
    if current is None:
        return False
    current["verification_status"] = status
    current["verification"] = {"time": ctx.now.isoformat(timespec="seconds"), "deep": ctx.deep,
                               "report": report_name, "checks": [outcome.as_json() for outcome in ctx.outcomes]}
    try:
        write_json_atomic(path, current)
    except OSError:
        return False
    return True


# --- for the dashboard ------------------------------------------------------------------------


@dataclass(frozen=True)
class LastVerification:
    """The most recent verification result of one kind."""

    kind: str
    status: str
    """"passed", "warning" or "failed" (the worst of the kind's sets in that report)."""
    finished_at: str
    report: str
    sets: int
    failed_sets: int
    warnings: int

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "status": self.status, "finished_at": self.finished_at, "report": self.report,
                "sets": self.sets, "failed_sets": self.failed_sets, "warnings": self.warnings}


def last_results(settings: Settings, limit: int = 50) -> dict[str, LastVerification]:
    """kind -> its last verification result, from the newest reports under BACKUP_DIR/reports.

    Cheap enough for a dashboard refresh: reports are read newest first, and only until every
    kind has been seen (at most ``limit`` files).
    """
    import json

    from console import reports

    found: dict[str, LastVerification] = {}
    for path in reports.report_paths(settings)[:limit]:
        missing = [kind for kind in KINDS if kind not in found]
        if not missing:
            break
        try:
            report = VerifyReport.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, AttributeError):
            continue
        for kind in missing:
            kind_sets = [item for item in report.sets if item.kind == kind]
            if not kind_sets:
                continue
            found[kind] = LastVerification(
                kind, overall(CheckOutcome("set", item.status, "") for item in kind_sets), report.finished_at,
                report.report_name, len(kind_sets), sum(item.status == FAILED for item in kind_sets),
                sum(item.counts[WARNING] for item in kind_sets))
    return found
