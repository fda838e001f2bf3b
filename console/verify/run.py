"""Verification of backup sets, ours and the manual's: select, run every check, record, report.

For each set of the catalog this runs the checks every kind shares (``console.verify.checks``:
metadata present and sane, SHA-256 against the metadata's ``artifacts``, age of the newest set,
the S3 copy when one was uploaded) and the kind's own (its kind's ``verifier``, ``console/kinds/<kind>/verify.py``:
dumps readable, RDB checksum, definitions complete, archives list, encrypted files
authenticate). ``deep`` adds a restore into a scratch target. Results go into each set's
metadata (atomic rewrite; the manual's unreadable metadata is left alone) and into a report
(``console.verify.reports``).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from console import fleet
from console.artifacts import write_json_atomic
from console.catalog import KINDS, BackupSet, read_metadata, scan
from console.errors import UsageError
from console.kinds import registry
from console.offsite.upload import read_metadata_path
from console.progress import CancelToken, ProgressCallback, ProgressEvent, check_cancel, emit
from console.runlog import RunRecord, record_run
from console.verify import reports
from console.verify.checks import (check_age, check_date, check_metadata, check_missing_artifacts, check_offsite,
                                   check_recorded, settle_recorded)
from console.verify.model import (FAILED, PASSED, WARNING, SetContext, SetVerification, VerifyReport, overall,
                                  primary_name)

if TYPE_CHECKING:
    from console.config import Settings

# --- selection -------------------------------------------------------------------------------


def select_sets(settings: Settings, kind: str | None = None, set_id: str | None = None) -> tuple[list[BackupSet], set[str]]:
    """The sets to verify, and the ids of the newest set of each kind/name (for the age check)."""
    kind, _, instance = (kind or "").partition("/")
    if kind and kind not in KINDS:
        raise UsageError(f"unknown kind '{kind}' (choose from {', '.join(KINDS)})")
    catalog = scan(settings.backup_dir, [kind] if kind else KINDS)
    newest = {item.set_id for item in catalog.latest_per_target()}
    sets = catalog.sets
    if instance:
        sets = [item for item in sets if item.instance == instance]
        if not sets:
            found = ", ".join(catalog.instances(kind)) or "none"
            raise UsageError(f"no {kind} sets of instance '{instance}' under {settings.backup_dir} (instances with "
                             f"sets: {found})")
    if set_id is not None:
        sets = [item for item in sets if item.set_id == set_id]
        if not sets:
            known = ", ".join(item.set_id for item in catalog.sets[-3:]) or "none"
            raise UsageError(f"no backup set '{set_id}' under {settings.backup_dir} (newest: {known})")
    return sets, newest


# --- running -----------------------------------------------------------------------------------


def _speaking_for(settings: Settings, backup_set: BackupSet) -> Settings:
    """The settings of the set's instance (a deep check restores with its server's tools); the
    unscoped ones for an instance no longer configured (its files are still checked)."""
    if backup_set.instance not in {item.name for item in settings.instances_of(backup_set.kind)}:
        return settings
    return settings.for_instance(backup_set.kind, backup_set.instance)


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
    started = time.time()
    started_at = datetime.now().astimezone()
    report_name = reports.free_report_name(settings, started_at)
    sets, newest = select_sets(settings, kind, set_id)
    results: list[SetVerification] = []
    for index, backup_set in enumerate(sets):
        check_cancel(cancel)
        emit(on_progress, ProgressEvent("verify", index, len(sets), unit="sets", message=f"checking {backup_set.set_id}"))
        result = verify_set(_speaking_for(settings, backup_set), backup_set, deep=deep, newest=backup_set.set_id in newest,
                            now=now or datetime.now().astimezone(), cancel=cancel, on_progress=on_progress,
                            report_name=report_name)
        results.append(result)
    emit(on_progress, ProgressEvent("verify", len(sets), len(sets), unit="sets", finished=True))
    finished_at = datetime.now().astimezone()
    kinds = (kind.partition("/")[0],) if kind else KINDS
    report = VerifyReport(started_at.isoformat(timespec="seconds"), finished_at.isoformat(timespec="seconds"),
                          time.time() - started, deep, kinds, tuple(results), report_name)
    if write_report:
        reports.write_report(settings, report)
    counts = report.counts
    message = f"{len(results)} set(s): {counts[PASSED]} passed, {counts[FAILED]} failed, {counts[WARNING]} warnings"
    extra: dict[str, Any] = {"report": report_name, "deep": deep}
    published = _publish_fleet_records(settings, sets)
    if published is not None:
        extra["fleet"] = published.as_extra()
        message += "" if published.ok else f"; {published.note}"
    record_run(settings.backup_dir, RunRecord(
        action="verify", kind=(kind or "all").partition("/")[0], target=set_id or "",
        instance=(kind or "").partition("/")[2] or "default", status="ok" if report.ok else "failed",
        started=started, finished=time.time(), message=message, extra=extra))
    return report


def _publish_fleet_records(settings: Settings, sets: list[BackupSet]) -> Any:
    """The fleet records (``console.fleet``) of the targets whose sets were verified; None without S3."""
    return fleet.publish(settings, [fleet.Target(*item.target_key) for item in sets if item.is_backup])


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
    started = time.time()
    now = now or datetime.now().astimezone()
    kind = registry.get(backup_set.kind)
    ctx = SetContext(settings, backup_set, read_metadata(backup_set), deep, now, cancel, on_progress, kind.daily)
    verifier = kind.verifier
    check_metadata(ctx, verifier)
    for item in backup_set.files:
        if item.role == "metadata":
            continue
        check_cancel(cancel)
        check_recorded(ctx, item)
        if verifier is not None:
            verifier.check_file(ctx, item)
        settle_recorded(ctx, item)  # the hash was taken during the kind's read, if it read the whole file
    check_missing_artifacts(ctx)
    check_date(ctx)
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


# --- recording --------------------------------------------------------------------------------


def _record(ctx: SetContext, status: str, report_name: str | None) -> bool:
    """Write the result into the set's metadata (plain JSON objects only; re-read just before)."""
    path = ctx.backup_set.metadata_path
    if path is None or not path.name.endswith(".json") or ctx.metadata.document is None:
        return False

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
