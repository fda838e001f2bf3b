"""The retention state per kind, as the Retention screen shows it: how many sets, oldest and
newest, size locally and in S3, the next expiry, the lifecycle rules in force and the planned
actions; the same for the verification reports. Built from one retention plan and one lifecycle
comparison; it only reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from console.catalog import KINDS
from console.errors import ConsoleError
from console.instances import DEFAULT
from console.retention import lifecycle
from console.retention.apply import RetentionPlans, plan_retention
from console.retention.pitr import WAL_KIND, PitrPlan
from console.retention.policy import days_label

if TYPE_CHECKING:
    from console.config import Settings


@dataclass(frozen=True)
class KindState:
    kind: str
    local_count: int
    oldest: str | None
    newest: str | None
    local_bytes: int
    s3_count: int | None
    s3_bytes: int | None
    next_expiry: str | None
    """When the next kept set passes its local age (it may still be kept by a protection)."""
    lifecycle: str
    to_remove: int
    freed_bytes: int
    to_transition: int


@dataclass(frozen=True)
class RetentionOverview:
    plans: RetentionPlans
    kinds: list[KindState]
    lifecycle_status: str
    lifecycle_rules: dict[str, str] = field(default_factory=dict)
    reports: KindState | None = None
    """The verification reports as one more category (kind "reports", local only)."""
    pitr: list[KindState] = field(default_factory=list)
    """Base backups ("pg-base") and the WAL archive ("pg-wal", counted in files) once either exists."""

    @property
    def sets_to_remove(self) -> int:
        return len(self.plans.removals)

    @property
    def base_backups_to_remove(self) -> int:
        return len(self.plans.base_removals)

    @property
    def wal_files_to_remove(self) -> int:
        return self.plans.wal_files_to_remove

    @property
    def reports_to_remove(self) -> int:
        return len(self.plans.report_removals)

    def as_json(self) -> dict[str, Any]:
        return {"kinds": [vars(state) for state in self.kinds], "lifecycle_status": self.lifecycle_status,
                "reports": vars(self.reports) if self.reports else None, "sets_to_remove": self.sets_to_remove,
                "reports_to_remove": self.reports_to_remove, "pitr": [vars(state) for state in self.pitr],
                "base_backups_to_remove": self.base_backups_to_remove, "wal_files_to_remove": self.wal_files_to_remove,
                "plan": self.plans.as_json()}


def overview(settings: Settings, now: datetime | None = None, s3_client: Any | None = None) -> RetentionOverview:
    """Plan both tiers and read the bucket's lifecycle; S3 problems become status text."""
    now = now or datetime.now().astimezone()
    plans = plan_retention(settings, now, offsite=True, s3_client=s3_client)
    rules: dict[str, str] = {}
    status = "not configured (no bucket)"
    if settings.s3.bucket:
        try:
            comparison = lifecycle.compare(settings, s3_client, plans.policy)
        except ConsoleError as exc:
            status = exc.message
        else:
            current = {rule.get("ID"): rule for rule in comparison.current}
            for kind in plans.policy.rules:
                rule = current.get(f"{lifecycle.RULE_PREFIX}{kind}")
                rules[kind] = lifecycle.describe(rule) if rule else "none"
            status = "in sync with the policy" if not comparison.changed else (
                f"{sum(c.action != 'same' for c in comparison.changes)} rule(s) differ: `retention lifecycle --apply --yes`")
    kinds: list[KindState] = []
    for kind in KINDS:
        kept = [d for d in plans.local.keep if d.kind == kind]
        removed = [d for d in plans.local.remove if d.kind == kind]
        every = kept + removed
        stamps = sorted(d.stamp for d in every)
        offsite = None if plans.offsite is None else [d for d in (*plans.offsite.keep, *plans.offsite.remove) if d.kind == kind]
        rule = plans.policy.rule(kind)
        next_expiry = None
        if rule is not None and rule.local_days is not None:
            upcoming = sorted(d.subject.timestamp + timedelta(days=rule.local_days) for d in kept
                              if d.subject.timestamp + timedelta(days=rule.local_days) > now)
            if upcoming:
                next_expiry = upcoming[0].strftime("%Y-%m-%d %H:%M")
        elif rule is not None:
            next_expiry = days_label(None)
        kinds.append(KindState(
            kind, len(every), stamps[0] if stamps else None, stamps[-1] if stamps else None,
            sum(d.size_bytes for d in every), None if offsite is None else len(offsite),
            None if offsite is None else sum(d.size_bytes for d in offsite), next_expiry,
            rules.get(kind, "-"), len(removed) + (len([d for d in plans.offsite.remove if d.kind == kind]) if plans.offsite else 0),
            sum(d.size_bytes for d in removed), len([d for d in plans.offsite.transition if d.kind == kind]) if plans.offsite else 0,
        ))
    return RetentionOverview(plans, kinds, status, rules, _reports_state(plans), _pitr_states(plans, now, rules))


def _pitr_states(plans: RetentionPlans, now: datetime, rules: dict[str, str]) -> list[KindState]:
    """Base backups like a kind; the WAL archive counted in files, its S3 lifecycle rule shown; a
    named PostgreSQL instance's rows carry its name (``pg-base/analytics``)."""
    return [state for pitr in plans.pitr_plans for state in _pitr_plan_states(plans, pitr, now, rules)]


def _pitr_plan_states(plans: RetentionPlans, pitr: PitrPlan, now: datetime, rules: dict[str, str]) -> list[KindState]:
    suffix = "" if pitr.instance == DEFAULT else f"/{pitr.instance}"
    every = [*pitr.keep, *pitr.remove]
    stamps = sorted(d.stamp for d in every)
    rule = plans.policy.rule("postgres-base") or plans.policy.rule("postgres")
    upcoming = sorted(d.subject.timestamp + timedelta(days=rule.local_days) for d in pitr.keep
                      if rule is not None and rule.local_days is not None
                      and d.subject.timestamp + timedelta(days=rule.local_days) > now)
    states = [KindState(f"pg-base{suffix}", len(every), stamps[0] if stamps else None, stamps[-1] if stamps else None,
                        sum(d.size_bytes for d in every), None, None,
                        upcoming[0].strftime("%Y-%m-%d %H:%M") if upcoming else None, "-", len(pitr.remove),
                        sum(d.size_bytes for d in pitr.remove), 0)]
    wal = pitr.wal
    if wal is not None:
        removing = pitr.wal_files_to_remove
        states.append(KindState(f"pg-wal{suffix}", wal.keep_files + removing, None, None, wal.keep_bytes + wal.bytes_to_remove,
                                None, None, None, rules.get(WAL_KIND, "-"), removing, wal.bytes_to_remove, 0))
    return states


def _reports_state(plans: RetentionPlans) -> KindState | None:
    plan = plans.reports
    if plan is None:
        return None
    every = [*plan.keep, *plan.remove]
    stamps = sorted(d.stamp for d in every)
    expiry = plan.next_expiry
    return KindState("reports", len(every), stamps[0] if stamps else None, stamps[-1] if stamps else None,
                     sum(d.size_bytes for d in every), None, None, expiry.strftime("%Y-%m-%d %H:%M") if expiry else None,
                     "-", len(plan.remove), plan.freed_bytes, 0)
