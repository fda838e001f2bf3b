"""Retention decisions: ``apply_policy(sets, policy, now)`` says which backup sets to keep (and
why), which to remove (by which rule, at what age) and which offsite copies change class.

It is a pure function over whole backup sets (a dump, its SQL, metadata and archive together),
so it can never leave the orphans of the manual's ``find -delete``, and it never sees files the
catalog did not recognise. Carrying a plan out is console/prune.py's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping, Protocol, Sequence

from console.catalog import CLOCK_SKEW_SECONDS
from console.errors import ConfigError, ConsoleError, ExitCode
from console.instances import target_label
from console.retention.policy import ARCHIVE_CLASSES, Policy, days_label

TIERS = ("local", "s3")


class UnsafePlan(ConsoleError):
    """The plan would delete every backup of a kind/database, and no unsafe flag was given."""

    exit_code = ExitCode.FAILED


class RetentionSubject(Protocol):
    """What a plan needs of a set: console.catalog.BackupSet or console.offsite.bucket.OffsiteSet."""

    kind: str
    name: str
    timestamp: datetime
    instance: str

    @property
    def set_id(self) -> str: ...

    @property
    def target_key(self) -> tuple[str, str, str]: ...

    @property
    def size_bytes(self) -> int: ...

    @property
    def is_backup(self) -> bool: ...


@dataclass(frozen=True)
class Decision:
    """One set and what happens to it, with the reasons in words."""

    set_id: str
    kind: str
    name: str
    stamp: str
    age_days: float
    size_bytes: int
    files: tuple[str, ...]
    reasons: tuple[str, ...]
    """Why it is kept ("newest verified", "min_keep 2/3", "within 7 d"), or the rule removing it."""
    rule: str | None = None
    """For removals and transitions: the rule that applies ("local 7 d", "offsite 7 y")."""
    subject: Any = field(default=None, compare=False, repr=False)
    instance: str = "default"

    def as_json(self) -> dict[str, Any]:
        document = {"set_id": self.set_id, "kind": self.kind, "instance": self.instance, "name": self.name,
                    "stamp": self.stamp,
                    "age_days": round(self.age_days, 1), "size_bytes": self.size_bytes, "files": list(self.files),
                    "reasons": list(self.reasons)}
        if self.rule is not None:
            document["rule"] = self.rule
        return document


@dataclass(frozen=True)
class RetentionPlan:
    tier: str
    now: datetime
    min_keep: int
    keep: tuple[Decision, ...]
    remove: tuple[Decision, ...]
    transition: tuple[Decision, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def freed_bytes(self) -> int:
        return sum(item.size_bytes for item in self.remove)

    def by_kind(self) -> dict[str, dict[str, int]]:
        """Per kind: sets kept, removed and bytes freed."""
        summary: dict[str, dict[str, int]] = {}
        for item in self.keep:
            summary.setdefault(item.kind, {"keep": 0, "remove": 0, "freed_bytes": 0})["keep"] += 1
        for item in self.remove:
            entry = summary.setdefault(item.kind, {"keep": 0, "remove": 0, "freed_bytes": 0})
            entry["remove"] += 1
            entry["freed_bytes"] += item.size_bytes
        return summary

    def as_json(self) -> dict[str, Any]:
        return {"tier": self.tier, "now": self.now.isoformat(timespec="seconds"), "min_keep": self.min_keep,
                "keep": [item.as_json() for item in self.keep], "remove": [item.as_json() for item in self.remove],
                "transition": [item.as_json() for item in self.transition], "freed_bytes": self.freed_bytes,
                "by_kind": self.by_kind(), "notes": list(self.notes)}


def apply_policy(
    sets: Iterable[RetentionSubject],
    policy: Policy,
    now: datetime,
    verified: Mapping[str, str] | None = None,
    tier: str = "local",
    allow_delete_all: bool = False,
) -> RetentionPlan:
    """Decide, per kind and database, which sets to keep and which to remove.

    Args:
        sets: the sets of one tier (the local catalog, or the offsite listing).
        policy: the rules; refused when it has none.
        now: the reference time (ages are counted from each set's timestamp).
        verified: set_id -> verification_status ("passed", "failed", "warning", "pending").
        tier: "local" (rule.local_days) or "s3" (rule.expiration_days, plus transitions).
        allow_delete_all: allow a plan that removes every backup of a kind/database.

    Raises:
        ConfigError: the policy is empty. UnsafePlan: everything of a target would go.
    """
    if not policy.rules:
        raise ConfigError("the retention policy has no rules; refusing to plan")
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}")
    verified = verified or {}
    groups: dict[tuple[str, str, str], list[RetentionSubject]] = {}
    for item in sets:
        groups.setdefault(item.target_key, []).append(item)
    keep: list[Decision] = []
    remove: list[Decision] = []
    transition: list[Decision] = []
    notes: list[str] = list(policy.notes)
    for (kind, instance, name), members in sorted(groups.items()):
        rule = policy.rule(kind, instance)
        min_keep = policy.min_keep_for(kind, instance)
        members.sort(key=lambda item: item.timestamp, reverse=True)
        if rule is None:
            keep.extend(_decision(item, now, (f"no rule for kind '{kind}'",)) for item in members)
            notes.append(f"no retention rule for kind '{kind}': its sets are kept")
            continue
        days = rule.local_days if tier == "local" else rule.expiration_days
        label = f"{'local' if tier == 'local' else 'offsite'} {days_label(days)}"
        future = {id(item) for item in members if _age_seconds(item, now) < -CLOCK_SKEW_SECONDS}
        backups = [item for item in members if item.is_backup and id(item) not in future]
        newest_verified = next((item for item in backups if verified.get(item.set_id) == "passed"), None)
        rank = {id(item): index for index, item in enumerate(backups)}
        group_keep: list[Decision] = []
        group_remove: list[Decision] = []
        for item in members:
            age = _age_days(item, now)
            reasons: list[str] = []
            if id(item) in future:
                # Never counted (no min_keep slot, not "newest"), never deleted: its date is wrong, not old.
                group_keep.append(_decision(item, now, ("dated in the future (clock skew or a wrong name): "
                                                        "kept, not counted",)))
                continue
            if item is newest_verified:
                reasons.append("newest verified")
            if id(item) in rank and rank[id(item)] < min_keep:
                reasons.append(f"min_keep {rank[id(item)] + 1}/{min_keep}")
            if days is None:
                reasons.append("indefinite")
            elif age <= days:
                reasons.append(f"within {days_label(days)}")
            if reasons:
                group_keep.append(_decision(item, now, tuple(reasons)))
                if tier == "s3" and rule.transition_days is not None and age > rule.transition_days \
                        and not _archived(item):
                    transition.append(_decision(item, now, (f"older than {days_label(rule.transition_days)} in "
                                                            f"S3 Standard -> {rule.archive_class}",),
                                                rule=f"transition {days_label(rule.transition_days)}"))
                continue
            why = f"age {age:.1f} d > {days_label(days)}"
            if not item.is_backup:
                why += " (incomplete set: no primary file)"
            group_remove.append(_decision(item, now, (why,), rule=label))
        if backups and not any(d.subject.is_backup for d in group_keep) and not allow_delete_all:
            target = target_label(kind, instance, name)
            raise UnsafePlan(f"retention would delete every {target} backup ({len(backups)} sets)",
                             hint="raise min_keep, or pass the unsafe flag (--allow-delete-all) if that is intended")
        keep.extend(group_keep)
        remove.extend(group_remove)
    return RetentionPlan(tier, now, policy.min_keep, tuple(keep), tuple(remove), tuple(transition), tuple(notes))


def _age_seconds(item: RetentionSubject, now: datetime) -> float:
    return (now - item.timestamp).total_seconds()


def _age_days(item: RetentionSubject, now: datetime) -> float:
    return max(0.0, (now - item.timestamp).total_seconds() / 86400.0)


def _archived(item: RetentionSubject) -> bool:
    classes = getattr(item, "storage_classes", ())
    return bool(classes) and all(value in ARCHIVE_CLASSES for value in classes)


def _files(item: RetentionSubject) -> tuple[str, ...]:
    keys = getattr(item, "keys", None)
    if keys is not None:
        return tuple(keys)
    names = []
    for backup_file in getattr(item, "files", ()):
        name = backup_file.name
        names.append(f"archives/{name}" if backup_file.parent_name == "archives" else name)
    return tuple(sorted(names))


def _decision(item: RetentionSubject, now: datetime, reasons: Sequence[str], rule: str | None = None) -> Decision:
    return Decision(item.set_id, item.kind, item.name, item.timestamp.strftime("%Y%m%d_%H%M%S"), _age_days(item, now),
                    item.size_bytes, _files(item), tuple(reasons), rule, item, getattr(item, "instance", "default"))
