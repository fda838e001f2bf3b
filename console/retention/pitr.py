"""Retention of point-in-time recovery files: base backups (BACKUP_DIR/postgres/base/<ts>) and the
archived WAL they need, as one more category of the retention plan.

Base backups are decided like sets, by ``apply_policy``: the ``postgres-base`` rule when the policy
has one, else the ``postgres`` rule (they are full backups of the cluster), with the same
protections (newest verified, ``min_keep``, dated in the future). Then the WAL archive is planned
against the base backups that plan *keeps*: a base backup removed in the same plan protects no
WAL. Every archived file from the oldest kept base backup's start segment on is kept, on every
timeline, and every ``.history`` file; the older files are removed, shown as ranges of
consecutive segments per timeline (console.pitr.prune.select_wal). Nothing is removed from the
archive when no base backup is kept or a base backup's metadata cannot be read.

``plan_pitr`` only reads; console.retention.apply deletes (base backup data first, ``backup.json``
last; WAL oldest first, each file before its ``.sha256``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.instances import DEFAULT
from console.layout import parse_stamp
from console.pitr.layout import METADATA_NAME, BaseBackup, base_root
from console.pitr.prune import WalRange, WalSelection, read_base_backups, select_wal
from console.retention.plan import Decision, apply_policy
from console.retention.policy import Policy
from console.retention.storage import DryRunStorage, LocalStorage, StorageError

if TYPE_CHECKING:
    from console.config import Settings

BASE_KIND = "postgres-base"
WAL_KIND = "postgres-wal"
WAL_RULE = "pitr"
"""The rule named on WAL removals: needed by no kept base backup."""


@dataclass(frozen=True)
class BaseSubject:
    """A base backup as a retention subject (console.retention.plan.RetentionSubject)."""

    base: BaseBackup
    timestamp: datetime
    paths: tuple[Path, ...]
    """Its files, ``backup.json`` last: the order they are deleted in."""
    size_bytes: int
    kind: str = BASE_KIND
    name: str = ""
    is_backup: bool = True
    instance: str = DEFAULT
    """The PostgreSQL instance whose base backup this is."""

    @property
    def set_id(self) -> str:
        return self.base.set_id

    @property
    def target_key(self) -> tuple[str, str, str]:
        return (self.kind, self.instance, self.name)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(path.name for path in self.paths)


@dataclass(frozen=True)
class PitrPlan:
    base_dir: str
    rule: str
    """Which policy rule decides base backups ("postgres-base" or "postgres"), or why none does."""
    keep: tuple[Decision, ...]
    remove: tuple[Decision, ...]
    """Base backups."""
    wal: WalSelection | None
    """None when no WAL archive is configured (postgres.wal_archive_dir)."""
    wal_remove: tuple[Decision, ...] = ()
    """One per range of WAL files (subject: console.pitr.prune.WalRange)."""
    notes: tuple[str, ...] = ()
    instance: str = DEFAULT
    """The PostgreSQL instance whose base backups and WAL archive these are."""

    @property
    def wal_files_to_remove(self) -> int:
        return sum(item.subject.count for item in self.wal_remove)

    @property
    def freed_bytes(self) -> int:
        return sum(item.size_bytes for item in self.remove + self.wal_remove)

    def as_json(self) -> dict[str, Any]:
        return {"instance": self.instance, "base_dir": self.base_dir, "rule": self.rule,
                "base_backups": {"keep": [item.as_json() for item in self.keep],
                                 "remove": [item.as_json() for item in self.remove]},
                "wal": None if self.wal is None else {
                    **self.wal.as_json(),
                    "remove": [{**item.subject.as_json(), "age_days": round(item.age_days, 1), "rule": item.rule}
                               for item in self.wal_remove]},
                "base_backups_to_remove": len(self.remove), "wal_files_to_remove": self.wal_files_to_remove,
                "freed_bytes": self.freed_bytes, "notes": list(self.notes)}


def _subject(base: BaseBackup) -> BaseSubject:
    paths = []
    try:
        paths = sorted((p for p in base.directory.iterdir() if p.is_file()), key=lambda p: (p.name == METADATA_NAME, p.name))
    except OSError:
        pass
    size = 0
    for path in paths:
        try:
            size += path.lstat().st_size
        except OSError:
            continue

    return BaseSubject(base, parse_stamp(base.stamp), tuple(paths), size, instance=base.instance)


def _wal_decision(wal_range: WalRange, now: datetime, instance: str = DEFAULT) -> Decision:
    newest = datetime.fromtimestamp(wal_range.newest_mtime, timezone.utc)
    age = max(0.0, (now - newest).total_seconds() / 86400.0)
    subject = wal_range.label if instance == DEFAULT else f"{instance}/{wal_range.label}"
    return Decision(f"{WAL_KIND}/{subject}", WAL_KIND, f"timeline {wal_range.timeline}",
                    newest.astimezone(now.tzinfo).strftime("%Y%m%d_%H%M%S"), age, wal_range.size_bytes,
                    (), (f"{wal_range.count} file(s), {wal_range.reason}",), WAL_RULE, wal_range)


def plan_pitr(settings: Settings, policy: Policy, now: datetime, allow_delete_all: bool = False) -> PitrPlan | None:
    """Plan base backups and the WAL archive of the PostgreSQL instance ``settings`` are scoped to;
    None when there is neither a base backup nor an archive.

    Raises:
        UnsafePlan: every base backup would be removed, and ``allow_delete_all`` was not given.
    """
    bases, problems = read_base_backups(settings.root)
    archive = Path(settings.postgres.wal_archive_dir) if settings.postgres.wal_archive_dir else None
    if not bases and not problems:
        return None
    instance = settings.instance_of("postgres")
    # The instance's own retention: applies once, when apply_policy asks for the base rule by instance.
    rule = policy.rules.get(BASE_KIND) or policy.rules.get("postgres")
    notes: list[str] = list(problems)
    if rule is None:
        keep = tuple(Decision(subject.set_id, BASE_KIND, "", subject.base.stamp, 0.0, subject.size_bytes,
                              subject.keys, ("no rule for postgres-base or postgres",), None, subject)
                     for subject in map(_subject, bases))
        remove: tuple[Decision, ...] = ()
        rule_name = "none (kept)"
    else:
        rule_name = rule.kind
        subjects = [_subject(base) for base in bases]
        verified = {s.set_id: s.base.metadata["verification_status"] for s in subjects
                    if isinstance(s.base.metadata.get("verification_status"), str)}
        decided = apply_policy(subjects, replace(policy, rules={BASE_KIND: replace(rule, kind=BASE_KIND)}, notes=()),
                               now, verified=verified, tier="local", allow_delete_all=allow_delete_all)
        keep = decided.keep
        remove = decided.remove if not problems else ()
        if problems and decided.remove:
            keep = keep + decided.remove
            notes.append("no base backup is removed while one cannot be read")
    kept = [item.subject.base for item in keep]
    wal: WalSelection | None = None
    wal_remove: tuple[Decision, ...] = ()
    if archive is None:
        notes.append("postgres.wal_archive_dir is not set: the WAL archive is not planned")
    else:
        wal = select_wal(archive, kept, problems)
        if wal.refused:
            notes.append(wal.refused)
        wal_remove = tuple(_wal_decision(item, now, instance) for item in wal.remove)
    return PitrPlan(str(base_root(settings.root)), rule_name, tuple(keep), tuple(remove), wal, wal_remove,
                    tuple(notes), instance)


@dataclass
class PitrDeleted:
    bases: list[Decision] = field(default_factory=list)
    wal: list[Decision] = field(default_factory=list)
    """Ranges removed whole."""
    wal_files: int = 0
    wal_bytes: int = 0
    errors: list[str] = field(default_factory=list)


def delete_pitr(plan: PitrPlan, settings: Settings, dry_run: bool) -> PitrDeleted:
    """Remove what the plan removes: each base backup's data then its metadata then its directory;
    the WAL oldest range first, each file before its sidecar. Deletes are confined to BACKUP_DIR and
    to the archive directory (console.retention.storage.LocalStorage)."""

    done = PitrDeleted()
    storage: Any = LocalStorage(settings.backup_dir)
    if dry_run:
        storage = DryRunStorage(storage)
    for decision in plan.remove:
        subject: BaseSubject = decision.subject
        try:
            for path in subject.paths:
                storage.delete(str(path.relative_to(settings.backup_dir)))
            if not dry_run:
                try:
                    os.rmdir(subject.base.directory)
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    raise StorageError(f"cannot remove {subject.base.directory}: {exc.strerror}") from None
        except StorageError as exc:
            done.errors.append(f"base backup {decision.set_id}: {exc.message}")
            continue
        done.bases.append(decision)
    if plan.wal is None or not plan.wal_remove:
        return done
    archive: Any = LocalStorage(plan.wal.archive_dir)
    if dry_run:
        archive = DryRunStorage(archive)
    for decision in plan.wal_remove:
        wal_range: WalRange = decision.subject
        try:
            for item in wal_range.files:
                for path in item.paths:
                    archive.delete(path.name)
                done.wal_files += 1
                done.wal_bytes += item.size_bytes
        except StorageError as exc:
            done.errors.append(f"{decision.set_id}: {exc.message}")
            continue
        done.wal.append(decision)
    return done
