"""The bucket's lifecycle configuration, generated from the retention policy.

One rule per policy rule, id ``backup-console-<kind>``, on ``<s3.prefix><rule.prefix>``:
transition to the rule's archive class (GLACIER / DEEP_ARCHIVE) after s3_standard_days,
expiration after the offsite retention, and clean-up of abandoned multipart uploads.
Rules with other ids belong to someone else and are kept as they are when applying.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from console.errors import ConsoleError
from console.offsite.keys import bucket_prefix
from console.probes.s3 import describe_error, make_client
from console.retention.policy import Policy, days_label, load_policy

if TYPE_CHECKING:
    from console.config import Settings

RULE_PREFIX = "backup-console-"
ABORT_MULTIPART_DAYS = 7


@dataclass(frozen=True)
class Change:
    action: str
    """"add", "change", "remove" or "same"."""
    rule_id: str
    summary: str
    current: dict[str, Any] | None = None
    desired: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {"action": self.action, "rule_id": self.rule_id, "summary": self.summary,
                "current": self.current, "desired": self.desired}


@dataclass(frozen=True)
class Comparison:
    bucket: str
    current: list[dict[str, Any]]
    desired: list[dict[str, Any]]
    foreign: list[dict[str, Any]]
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(change.action != "same" for change in self.changes)

    def as_json(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "in_sync": not self.changed, "changes": [c.as_json() for c in self.changes],
                "desired_rules": self.desired, "foreign_rules": self.foreign, "notes": self.notes}


def build_rules(policy: Policy, prefix: str = "") -> tuple[list[dict[str, Any]], list[str]]:
    """The lifecycle rules for the policy (S3 API shape) and notes on rules that produce none."""
    rules: list[dict[str, Any]] = []
    notes: list[str] = []
    for rule in policy.rules.values():
        entry: dict[str, Any] = {"ID": f"{RULE_PREFIX}{rule.kind}", "Filter": {"Prefix": prefix + rule.prefix},
                                 "Status": "Enabled",
                                 "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_MULTIPART_DAYS}}
        if rule.transition_days is not None:
            entry["Transitions"] = [{"Days": rule.transition_days, "StorageClass": rule.archive_class}]
        if rule.expiration_days is not None:
            entry["Expiration"] = {"Days": rule.expiration_days}
        if rule.expiration_days is None and rule.transition_days is None:
            notes.append(f"{rule.kind}: kept indefinitely offsite (S3 Standard is indefinite, so the "
                         f"{days_label(rule.archive_days)} archive column does not apply); only stale multipart "
                         f"uploads are cleaned")
        rules.append(entry)
    for outer in policy.rules.values():
        for inner in policy.rules.values():
            if inner is not outer and inner.prefix.startswith(outer.prefix):
                notes.append(f"{inner.kind}: its prefix {inner.prefix} lies inside {outer.kind}'s ({outer.prefix}); "
                             f"S3 applies both rules there, and the earliest expiration wins")
    return rules, notes


def normalise(rule: dict[str, Any]) -> dict[str, Any]:
    """A rule reduced to what matters, so AWS's and moto's spellings compare equal."""
    raw_filter = rule.get("Filter") or {}
    prefix = raw_filter.get("Prefix", rule.get("Prefix", ""))
    if "And" in raw_filter:
        prefix = raw_filter["And"].get("Prefix", "")
    transitions = sorted((int(t.get("Days", 0)), str(t.get("StorageClass"))) for t in rule.get("Transitions") or [])
    expiration = (rule.get("Expiration") or {}).get("Days")
    abort = (rule.get("AbortIncompleteMultipartUpload") or {}).get("DaysAfterInitiation")
    return {"ID": rule.get("ID", ""), "Prefix": prefix, "Status": rule.get("Status", "Enabled"),
            "Transitions": [list(item) for item in transitions],
            "Expiration": int(expiration) if expiration is not None else None,
            "Abort": int(abort) if abort is not None else None}


def describe(rule: dict[str, Any]) -> str:
    norm = normalise(rule)
    parts = [f"prefix '{norm['Prefix']}'"]
    parts += [f"-> {cls} after {days_label(days)}" for days, cls in norm["Transitions"]]
    parts.append(f"expire after {days_label(norm['Expiration'])}" if norm["Expiration"] else "never expires")
    if norm["Status"] != "Enabled":
        parts.append(norm["Status"].lower())
    return ", ".join(parts)


def diff(current: list[dict[str, Any]], desired: list[dict[str, Any]]) -> list[Change]:
    """Changes that turn the bucket's backup-console rules into the desired ones."""
    ours = {rule.get("ID", ""): rule for rule in current if str(rule.get("ID", "")).startswith(RULE_PREFIX)}
    changes: list[Change] = []
    for rule in desired:
        existing = ours.pop(rule["ID"], None)
        if existing is None:
            changes.append(Change("add", rule["ID"], describe(rule), None, rule))
        elif normalise(existing) != normalise(rule):
            changes.append(Change("change", rule["ID"], f"{describe(existing)}  =>  {describe(rule)}", existing, rule))
        else:
            changes.append(Change("same", rule["ID"], describe(rule), existing, rule))
    for rule_id, existing in sorted(ours.items()):
        changes.append(Change("remove", rule_id, describe(existing), existing, None))
    return changes


def current_rules(client: Any, bucket: str) -> list[dict[str, Any]]:
    """The bucket's lifecycle rules; an unset configuration is an empty list."""
    from botocore import exceptions as bexc

    try:
        response = client.get_bucket_lifecycle_configuration(Bucket=bucket)
    except bexc.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchLifecycleConfiguration":
            return []
        raise
    return list(response.get("Rules", []))


def compare(settings: Settings, client: Any | None = None, policy: Policy | None = None) -> Comparison:
    """Read the bucket's rules and compare them with the policy's."""
    from botocore import exceptions as bexc


    policy = policy or load_policy(settings)
    desired, notes = build_rules(policy, bucket_prefix(settings))
    client = client or make_client(settings, timeout=max(settings.timeout_seconds, 10.0), retries=3)
    try:
        current = current_rules(client, settings.s3.bucket)
    except (bexc.BotoCoreError, bexc.ClientError) as exc:
        raise ConsoleError(describe_error(exc, settings)[1]) from None
    foreign = [rule for rule in current if not str(rule.get("ID", "")).startswith(RULE_PREFIX)]
    return Comparison(settings.s3.bucket, current, desired, foreign, diff(current, desired), notes)


def apply(settings: Settings, comparison: Comparison, client: Any | None = None) -> None:
    """Write the desired rules plus the foreign ones to the bucket."""
    from botocore import exceptions as bexc


    client = client or make_client(settings, timeout=max(settings.timeout_seconds, 10.0), retries=3)
    rules = comparison.foreign + comparison.desired
    try:
        if rules:
            client.put_bucket_lifecycle_configuration(Bucket=comparison.bucket, LifecycleConfiguration={"Rules": rules})
        else:
            client.delete_bucket_lifecycle(Bucket=comparison.bucket)
    except (bexc.BotoCoreError, bexc.ClientError) as exc:
        raise ConsoleError(f"cannot set the lifecycle of bucket '{comparison.bucket}': {describe_error(exc, settings)[1]}") from None
