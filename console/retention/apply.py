"""Carrying out retention: build the local and offsite plans from the catalog, the bucket and
each set's verification status, and the plan of old verification reports
(console.retention.reports), then delete whole sets and reports through console.retention.storage and log it.

``plan_retention`` only reads. ``apply_retention`` takes the retention lock, plans again (so
what is deleted is exactly what it reports), refuses in read-only mode, deletes each set's
data files before its metadata (an interrupted run leaves a metadata-only set, which the next
run recognises as incomplete) and appends one run-log record per kind and tier.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

from console.catalog import Catalog, read_metadata, scan
from console.errors import ConsoleError, ReadOnlyRefused
from console.formatting import size
from console.instances import DEFAULT
from console.lock import BackupLock
from console.offsite.bucket import list_offsite_sets
from console.offsite.keys import bucket_prefix, offsite_prefixes
from console.probes.s3 import describe_error, make_client
from console.retention.pitr import PitrPlan, delete_pitr, plan_pitr
from console.retention.plan import Decision, RetentionPlan, apply_policy
from console.retention.policy import Policy, days_label, load_policy
from console.retention.reports import ReportPlan, plan_reports
from console.retention.storage import DryRunStorage, LocalStorage, S3Storage, StorageError
from console.runlog import RunRecord, record_run

if TYPE_CHECKING:
    from console.config import Settings

LOCK_NAME = "retention"


NO_BUCKET = "not configured (no bucket)"
SKIPPED = "skipped"


@dataclass(frozen=True)
class RetentionPlans:
    """Everything `retention plan` shows: the policy, the local plan and the offsite plan."""

    policy: Policy
    local: RetentionPlan
    offsite: RetentionPlan | None
    offsite_status: str
    """"planned", "not configured (no bucket)" or the one-line reason the bucket could not be listed."""
    unrecognised: tuple[str, ...] = ()
    reports: ReportPlan | None = None
    """Old verification reports under BACKUP_DIR/reports (their own category: not backup sets)."""
    pitr: PitrPlan | None = None
    """Base backups and the archived WAL they need (console.retention.pitr); None without either."""
    pitr_instances: tuple[PitrPlan, ...] = ()
    """The same for each named PostgreSQL instance that has base backups."""

    @property
    def pitr_plans(self) -> list[PitrPlan]:
        """Every instance's PITR plan, the default instance's first."""
        return ([self.pitr] if self.pitr else []) + list(self.pitr_instances)

    @property
    def offsite_unplanned(self) -> bool:
        """A bucket is configured and was wanted, but could not be listed: offsite is not pruned."""
        return self.offsite is None and self.offsite_status not in (NO_BUCKET, SKIPPED)

    @property
    def removals(self) -> list[Decision]:
        """The backup sets removed, both tiers (reports are in ``report_removals``)."""
        return list(self.local.remove) + (list(self.offsite.remove) if self.offsite else [])

    @property
    def report_removals(self) -> list[Decision]:
        return list(self.reports.remove) if self.reports else []

    @property
    def base_removals(self) -> list[Decision]:
        return [item for plan in self.pitr_plans for item in plan.remove]

    @property
    def wal_removals(self) -> list[Decision]:
        """Ranges of archived WAL files (``wal_files_to_remove`` counts the files)."""
        return [item for plan in self.pitr_plans for item in plan.wal_remove]

    @property
    def wal_files_to_remove(self) -> int:
        return sum(plan.wal_files_to_remove for plan in self.pitr_plans)

    @property
    def nothing_to_remove(self) -> bool:
        return not (self.removals or self.report_removals or self.base_removals or self.wal_removals)

    @property
    def freed_bytes(self) -> int:
        """Everything apply frees: sets of both tiers, base backups, WAL and reports."""
        return sum(item.size_bytes for item in self.removals + self.report_removals + self.base_removals
                   + self.wal_removals)

    def as_json(self) -> dict[str, Any]:
        return {"policy": self.policy.as_json(), "local": self.local.as_json(),
                "offsite": self.offsite.as_json() if self.offsite else None, "offsite_status": self.offsite_status,
                "offsite_unplanned": self.offsite_unplanned,
                "reports": self.reports.as_json() if self.reports else None,
                "sets_to_remove": len(self.removals), "reports_to_remove": len(self.report_removals),
                "pitr": self.pitr.as_json() if self.pitr else None,
                "pitr_instances": [plan.as_json() for plan in self.pitr_instances],
                "base_backups_to_remove": len(self.base_removals), "wal_files_to_remove": self.wal_files_to_remove,
                "freed_bytes": self.freed_bytes,
                "unrecognised_files": list(self.unrecognised)}


@dataclass
class ApplyResult:
    deleted: list[Decision] = field(default_factory=list)
    """Backup sets."""
    errors: list[str] = field(default_factory=list)
    dry_run: bool = False
    deleted_reports: list[Decision] = field(default_factory=list)
    deleted_bases: list[Decision] = field(default_factory=list)
    deleted_wal: list[Decision] = field(default_factory=list)
    """Ranges of WAL files removed whole."""
    deleted_wal_files: int = 0
    deleted_wal_bytes: int = 0

    @property
    def freed_bytes(self) -> int:
        return sum(item.size_bytes for item in self.deleted + self.deleted_reports + self.deleted_bases) \
            + self.deleted_wal_bytes

    def as_json(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "deleted": [item.set_id for item in self.deleted],
                "deleted_sets": len(self.deleted), "deleted_reports": [item.name for item in self.deleted_reports],
                "deleted_base_backups": [item.set_id for item in self.deleted_bases],
                "deleted_wal_files": self.deleted_wal_files,
                "deleted_wal_ranges": [item.subject.as_json() for item in self.deleted_wal],
                "freed_bytes": self.freed_bytes, "errors": list(self.errors)}


class VerificationMap(Mapping[str, str]):
    """set_id -> verification_status from each set's metadata (sets without one are absent), read on demand.

    The policy asks, newest first, only until it meets a passed set per target: with 10,000 sets that is a
    handful of metadata files instead of every one (0.7 s of CPU for a ``retention plan``).
    """

    def __init__(self, catalog: Catalog) -> None:
        self._sets = {backup_set.set_id: backup_set for backup_set in catalog.sets}
        self._read: dict[str, str | None] = {}

    def _status(self, set_id: str) -> str | None:
        if set_id not in self._read:
            backup_set = self._sets.get(set_id)
            document = read_metadata(backup_set).document if backup_set is not None else None
            status = document.get("verification_status") if document else None
            self._read[set_id] = status if isinstance(status, str) else None
        return self._read[set_id]

    def __getitem__(self, set_id: str) -> str:
        status = self._status(set_id)
        if status is None:
            raise KeyError(set_id)
        return status

    def __iter__(self) -> Iterator[str]:
        return (set_id for set_id in self._sets if self._status(set_id) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __bool__(self) -> bool:
        return bool(self._sets)


def verification_map(catalog: Catalog) -> Mapping[str, str]:
    """set_id -> verification_status from each set's metadata (sets without one are absent)."""
    return VerificationMap(catalog)


def plan_retention(
    settings: Settings,
    now: datetime | None = None,
    offsite: bool = True,
    allow_delete_all: bool = False,
    s3_client: Any | None = None,
) -> RetentionPlans:
    """Plan both tiers; an unreachable bucket makes the offsite part a status line, not an error."""
    now = now or datetime.now().astimezone()
    policy = load_policy(settings)
    catalog = scan(settings.backup_dir)
    verified = verification_map(catalog)
    local = apply_policy(catalog.sets, policy, now, verified=verified, tier="local", allow_delete_all=allow_delete_all)
    offsite_plan: RetentionPlan | None = None
    if not settings.s3.bucket:
        status = NO_BUCKET
    elif not offsite:
        status = SKIPPED
    else:
        from botocore import exceptions as bexc


        try:
            sets, _stray = list_offsite_sets(settings, s3_client)
        except (bexc.BotoCoreError, bexc.ClientError) as exc:
            status = describe_error(exc, settings)[1]
        else:
            by_stamp = {(item.kind, item.stamp): verified[item.set_id] for item in catalog.sets if item.set_id in verified}
            offsite_verified = {item.set_id: by_stamp.get((item.kind, item.stamp), "") for item in sets}
            offsite_plan = apply_policy(sets, policy, now, verified=offsite_verified, tier="s3",
                                        allow_delete_all=allow_delete_all)
            status = "planned"
    unrecognised = tuple(str(path.relative_to(settings.backup_dir)) for path in catalog.unrecognised)
    pitr = plan_pitr(settings, policy, now, allow_delete_all)
    named = [plan_pitr(settings.for_instance("postgres", item.name), policy, now, allow_delete_all)
             for item in settings.instances_of("postgres") if item.name != DEFAULT]
    wal_note = _wal_note(settings, policy, now) if pitr is None else None
    if wal_note:
        local = replace(local, notes=local.notes + (wal_note,))
    return RetentionPlans(policy, local, offsite_plan, status, unrecognised, plan_reports(settings, now), pitr,
                          tuple(plan for plan in named if plan is not None))


def _wal_note(settings: Settings, policy: Policy, now: datetime) -> str | None:
    """Without any base backup, WAL segments past the postgres-wal local age: reported, never
    deleted (with base backups, the PITR part of the plan removes what no kept one needs)."""

    rule = policy.rule("postgres-wal")
    directory = Path(settings.postgres.wal_archive_dir) if settings.postgres.wal_archive_dir else None
    if rule is None or rule.local_days is None or directory is None or not directory.is_dir():
        return None
    cutoff = now.timestamp() - rule.local_days * 86400
    old = [entry.stat().st_size for entry in os.scandir(directory)
           if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff]
    if not old:
        return None
    return (f"WAL archive {directory}: {len(old)} segment(s) older than {days_label(rule.local_days)} "
            f"({size(sum(old))}); not deleted by retention while no base backup exists "
            f"(`backup postgres --physical` takes one; from then on retention removes the WAL no kept base backup "
            f"needs)")


def apply_retention(
    settings: Settings,
    now: datetime | None = None,
    *,
    dry_run: bool = False,
    expected_sets: int | None = None,
    expected_reports: int | None = None,
    expected_bases: int | None = None,
    expected_wal_files: int | None = None,
    offsite: bool = True,
    allow_delete_all: bool = False,
    s3_client: Any | None = None,
) -> tuple[RetentionPlans, ApplyResult]:
    """Plan again under the retention lock and delete what the plan removes.

    Args:
        dry_run: go through the motions on DryRunStorage (nothing is deleted).
        expected_sets: the number of sets the operator confirmed; refused if the plan differs.
        expected_reports: the same for verification reports.
        expected_bases, expected_wal_files: the same for base backups and archived WAL files.

    Raises:
        ReadOnlyRefused: in read-only mode (unless dry_run). LockHeld: another apply runs.
        ConsoleError: the plan changed since the operator confirmed it.
    """
    if settings.read_only and not dry_run:
        raise ReadOnlyRefused("retention apply")
    with BackupLock(settings.backup_dir, LOCK_NAME, "retention apply"):
        s3_client = s3_client if s3_client is not None or not settings.s3.bucket or not offsite else _client(settings)
        plans = plan_retention(settings, now, offsite, allow_delete_all, s3_client)
        if expected_sets is not None and expected_sets != len(plans.removals):
            raise ConsoleError(f"the plan now removes {len(plans.removals)} sets, not the {expected_sets} confirmed",
                               hint="review the plan again and confirm the new number")
        if expected_reports is not None and expected_reports != len(plans.report_removals):
            raise ConsoleError(f"the plan now removes {len(plans.report_removals)} reports, not the "
                               f"{expected_reports} confirmed", hint="review the plan again and confirm the new number")
        if expected_bases is not None and expected_bases != len(plans.base_removals):
            raise ConsoleError(f"the plan now removes {len(plans.base_removals)} base backups, not the "
                               f"{expected_bases} confirmed", hint="review the plan again and confirm the new number")
        if expected_wal_files is not None and expected_wal_files != plans.wal_files_to_remove:
            raise ConsoleError(f"the plan now removes {plans.wal_files_to_remove} WAL files, not the "
                               f"{expected_wal_files} confirmed", hint="review the plan again and confirm the new number")
        local_storage: Any = LocalStorage(settings.backup_dir)
        s3_storage: Any = S3Storage(s3_client, settings.s3.bucket, bucket_prefix(settings),
                                        also=tuple(offsite_prefixes(settings))) if plans.offsite else None
        if dry_run:
            local_storage = DryRunStorage(local_storage)
            s3_storage = DryRunStorage(s3_storage) if s3_storage else None
        result = ApplyResult(dry_run=dry_run)
        started = time.time()
        _delete_sets(plans.local, local_storage, settings, result)
        if plans.offsite and s3_storage is not None:
            _delete_sets(plans.offsite, s3_storage, settings, result)
        _delete_reports(plans.report_removals, local_storage, settings, result)
        for pitr in plans.pitr_plans:
            done = delete_pitr(pitr, settings, dry_run)
            result.deleted_bases += done.bases
            result.deleted_wal += done.wal
            result.deleted_wal_files += done.wal_files
            result.deleted_wal_bytes += done.wal_bytes
            result.errors.extend(done.errors)
        if not dry_run:
            _record(settings, plans, result, started)
    return plans, result


def _client(settings: Settings) -> Any:
    return make_client(settings, timeout=max(settings.timeout_seconds, 10.0), retries=3)


def _locations(decision: Decision, settings: Settings) -> list[str]:
    """The set's files (or keys), metadata last."""
    subject = decision.subject
    if hasattr(subject, "keys") and not hasattr(subject, "files"):
        keys = list(subject.keys)
        return sorted(keys, key=lambda key: key.rsplit("/", 1)[-1].startswith("metadata"))
    files = sorted(subject.files, key=lambda item: item.role == "metadata")
    return [str(item.path.relative_to(settings.backup_dir)) for item in files]


def _delete_sets(plan: RetentionPlan, storage: Any, settings: Settings, result: ApplyResult) -> None:
    for decision in plan.remove:
        try:
            for location in _locations(decision, settings):
                storage.delete(location)
        except StorageError as exc:
            result.errors.append(f"{decision.set_id}: {exc.message}")
            continue
        result.deleted.append(decision)


def _delete_reports(removals: list[Decision], storage: Any, settings: Settings, result: ApplyResult) -> None:
    for decision in removals:
        try:
            for path in decision.subject.paths:  # .report first, .json last
                storage.delete(str(path.relative_to(settings.backup_dir)))
        except StorageError as exc:
            result.errors.append(f"{decision.set_id}: {exc.message}")
            continue
        result.deleted_reports.append(decision)


def _record(settings: Settings, plans: RetentionPlans, result: ApplyResult, started: float) -> None:
    finished = time.time()

    def record(kind: str, target: str, what: str, deleted: list[Decision], failed: list[str],
               identity: Callable[[Decision], dict[str, Any]]) -> None:
        record_run(settings.backup_dir, RunRecord(
            action="retention", kind=kind, target=target, status="failed" if failed else "ok",
            started=started, finished=finished,
            message=f"removed {len(deleted)} {what}, freed {size(sum(d.size_bytes for d in deleted))}"
                    + (f"; {len(failed)} failed" if failed else ""),
            extra={"deleted": [{**identity(item), "age_days": round(item.age_days, 1), "size_bytes": item.size_bytes,
                                "files": list(item.files)} for item in deleted],
                   "errors": failed},
        ))

    for tier, plan in (("local", plans.local), ("s3", plans.offsite)):
        if plan is None:
            continue
        kinds = sorted({item.kind for item in plan.remove})
        for kind in kinds:
            deleted = [item for item in result.deleted if item.kind == kind and item in plan.remove]
            failed = [error for error in result.errors if error.startswith(f"{kind}/")]
            record(kind, tier, f"{tier} set(s)", deleted, failed,
                   lambda item: {"set_id": item.set_id, "rule": item.rule})
    if plans.report_removals:
        failed = [error for error in result.errors if error.startswith("reports/")]
        record("reports", "local", "verification report(s)", result.deleted_reports, failed,
               lambda item: {"report": item.name})
    if plans.base_removals:
        failed = [error for error in result.errors if error.startswith("base backup ")]
        record("postgres-base", "local", "base backup(s)", result.deleted_bases, failed,
               lambda item: {"set_id": item.set_id, "rule": item.rule})
    if plans.wal_removals:
        failed = [error for error in result.errors if error.startswith("postgres-wal/")]
        wal = plans.pitr.wal if plans.pitr else None
        record_run(settings.backup_dir, RunRecord(
            action="retention", kind="postgres-wal", target="local", status="failed" if failed else "ok",
            started=started, finished=finished,
            message=f"removed {result.deleted_wal_files} WAL file(s) in {len(result.deleted_wal)} range(s), freed "
                    f"{size(result.deleted_wal_bytes)}" + (f"; {len(failed)} failed" if failed else ""),
            extra={"archive_dir": str(wal.archive_dir) if wal else None,
                   "archive_dirs": {plan.instance: str(plan.wal.archive_dir) for plan in plans.pitr_plans if plan.wal},
                   "oldest_needed_segment": wal.oldest_needed if wal else None,
                   "protected_by": wal.protected_by.set_id if wal and wal.protected_by else None,
                   "deleted": [item.subject.as_json() for item in result.deleted_wal], "errors": failed},
        ))
