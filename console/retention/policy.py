"""The retention policy as data: loading the policy file, validating it, and applying the
manual's environment overrides (LOCAL_RETENTION_DAYS, S3_RETENTION_DAYS, BACKUP_RETENTION_DAYS).

The policy file is ``retention.policy_file`` when set, else ``policy.yaml`` shipped in this
package (package data, so an installed wheel has it too; config/retention.yaml links to it).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from console.errors import ConfigError
from console.instances import DEFAULT
from console.kinds import registry
from console.yamlfile import read_yaml

if TYPE_CHECKING:
    from console.config import Settings

ARCHIVE_CLASSES = ("GLACIER", "DEEP_ARCHIVE", "GLACIER_IR")
"""The kinds the manual's environment variables govern (its cleanup script's backup_*/snapshot_*)."""
SHIPPED_POLICY = Path(__file__).resolve().parent / "policy.yaml"
_RULE_KEYS = ("title", "prefix", "local_days", "s3_standard_days", "archive_days", "archive_class")

@dataclass(frozen=True)
class Rule:
    """How long one kind is kept in each tier; None means indefinitely."""

    kind: str
    title: str
    prefix: str
    local_days: int | None
    s3_standard_days: int | None
    archive_days: int | None
    archive_class: str = "GLACIER"
    overridden: tuple[str, ...] = ()
    """Which fields an environment variable / setting replaced, e.g. ("local_days <- LOCAL_RETENTION_DAYS",)."""

    @property
    def transition_days(self) -> int | None:
        """Age at which offsite copies move to the archive class (None: never)."""
        if self.s3_standard_days is None or self.archive_days is None:
            return None
        return self.s3_standard_days if self.archive_days > self.s3_standard_days else None

    @property
    def expiration_days(self) -> int | None:
        """Age at which offsite copies are deleted; never while S3 Standard is indefinite."""
        if self.s3_standard_days is None:
            return None
        return self.archive_days if self.archive_days is not None else self.s3_standard_days

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "title": self.title, "prefix": self.prefix, "local_days": self.local_days,
                "s3_standard_days": self.s3_standard_days, "archive_days": self.archive_days,
                "archive_class": self.archive_class, "transition_days": self.transition_days,
                "expiration_days": self.expiration_days, "overridden": list(self.overridden)}

OWNER_OF_RULE = {"postgres-base": "postgres", "postgres-wal": "postgres"}
"""Rules for a part of a kind's backups, and the kind whose instances' ``retention:`` applies to them:
a PostgreSQL instance's base backups are its sets too."""


@dataclass(frozen=True)
class Policy:
    rules: Mapping[str, Rule]
    min_keep: int = 3
    source: str = "built-in"
    notes: tuple[str, ...] = field(default=())

    instance_overrides: Mapping[tuple[str, str], Mapping[str, int]] = field(default_factory=dict)
    """(kind, instance) -> its own ``retention:`` keys (local_days, s3_days, min_keep)."""

    def rule(self, kind: str, instance: str = DEFAULT) -> Rule | None:
        """The kind's rule, with a named instance's own local_days / s3_days over it."""
        rule = self.rules.get(kind)
        owner = OWNER_OF_RULE.get(kind, kind)
        own = self.instance_overrides.get((owner, instance))
        if rule is None or not own:
            return rule
        changes: dict[str, Any] = {}
        if "local_days" in own:
            changes["local_days"] = own["local_days"]
        if "s3_days" in own:
            changes["s3_standard_days"] = own["s3_days"]
        labels = [f"{name} <- {owner}.instances.{instance}.retention" for name in changes]
        return replace(rule, **changes, overridden=tuple(rule.overridden) + tuple(labels))

    def min_keep_for(self, kind: str, instance: str = DEFAULT) -> int:
        owner = OWNER_OF_RULE.get(kind, kind)
        return int(self.instance_overrides.get((owner, instance), {}).get("min_keep", self.min_keep))

    def as_json(self) -> dict[str, Any]:
        return {"source": self.source, "min_keep": self.min_keep,
                "rules": [rule.as_json() for rule in self.rules.values()], "notes": list(self.notes)}


def days_label(days: int | None) -> str:
    """``7 d``, ``1 y``, ``7 y`` or ``indefinite``, as the plan's reasons say it."""
    if days is None:
        return "indefinite"
    if days >= 365 and days % 365 == 0:
        return f"{days // 365} y"
    return f"{days} d"


def read_policy(path: Path, source: str | None = None, min_keep: int = 3) -> Policy:
    """Read and validate a policy file; a mistake is a ConfigError naming ``file:line`` and the rule.

    ``source`` is how the policy names itself in plans (``shipped policy``); the file's path by default.
    """
    with read_yaml(path, "retention policy") as root:
        no_rules = "an empty policy would keep or delete everything; give a rule per kind"
        if root is None or not root.is_mapping:
            raise ConfigError(f"{root or path}: the retention policy has no rules", hint=no_rules)
        top = root.fields(("rules",), "the retention policy")
        rules_node = top.node("rules") if "rules" in top else root
        if not rules_node.is_mapping or not rules_node.node.value or rules_node is root:
            raise ConfigError(f"{rules_node.where}: the retention policy has no rules", hint=no_rules)
        named = rules_node.fields(None, "the retention policy's rules")
        rules: dict[str, Rule] = {}
        for kind in named:
            rule_node = named.node(kind)
            if not rule_node.is_mapping:
                raise ConfigError(f"{named.where(kind)}: rule '{kind}' must be a mapping")
            raw = rule_node.fields(_RULE_KEYS, f"rule '{kind}'")
            values = {}
            for key in ("local_days", "s3_standard_days", "archive_days"):
                value = raw.value(key)
                if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                    raise ConfigError(f"{raw.where(key)}: rule '{kind}': {key} must be a whole number of days >= 1 "
                                      f"or null, got {value!r}")
                values[key] = value
            archive_class = str(raw.value("archive_class") or "GLACIER")
            if archive_class not in ARCHIVE_CLASSES:
                raise ConfigError(f"{raw.where('archive_class')}: rule '{kind}': archive_class must be one of "
                                  f"{', '.join(ARCHIVE_CLASSES)}, got '{archive_class}'")
            prefix = str(raw.value("prefix") or f"{kind}/")
            rules[kind] = Rule(kind, str(raw.value("title") or kind), prefix if prefix.endswith("/") else prefix + "/",
                               values["local_days"], values["s3_standard_days"], values["archive_days"], archive_class)
    return Policy(rules, min_keep, source or str(path))


def policy_path(settings: Settings) -> Path:
    """The policy file in effect."""
    if settings.retention.policy_file:
        path = Path(settings.retention.policy_file).expanduser()
        if not path.is_file():
            raise ConfigError(f"retention policy file {path} (retention.policy_file) does not exist")
        return path
    return SHIPPED_POLICY


def load_policy(settings: Settings) -> Policy:
    """The effective policy: the file, then the settings' overrides."""
    path = policy_path(settings)
    policy = read_policy(path, "shipped policy" if path == SHIPPED_POLICY else str(path), settings.retention.min_keep)
    overrides = {(kind, instance.name): dict(instance.retention)
                 for kind, instances in settings.instances.items() for instance in instances if instance.retention}
    return replace(apply_overrides(policy, settings), instance_overrides=overrides)


def apply_overrides(policy: Policy, settings: Settings) -> Policy:
    """Apply the manual's variables to the daily kinds, only when they were set (not defaults).

    LOCAL_RETENTION_DAYS (retention.local_days) replaces local_days; S3_RETENTION_DAYS
    (retention.s3_days) replaces s3_standard_days; BACKUP_RETENTION_DAYS (retention.backup_days)
    replaces archive_days, the age at which offsite copies expire.
    """
    sources = settings.sources
    wanted = [(field_name, key, getattr(settings.retention, attr), env)
              for field_name, key, attr, env in (
                  ("local_days", "retention.local_days", "local_days", "LOCAL_RETENTION_DAYS"),
                  ("s3_standard_days", "retention.s3_days", "s3_days", "S3_RETENTION_DAYS"),
                  ("archive_days", "retention.backup_days", "backup_days", "BACKUP_RETENTION_DAYS"))
              if sources.get(key, "default") != "default"]
    if not wanted:
        return policy
    rules = dict(policy.rules)
    notes = list(policy.notes)
    daily = [kind.name for kind in registry.KINDS.values() if kind.daily]
    for kind in daily:
        rule = rules.get(kind)
        if rule is None:
            continue
        changes: dict[str, Any] = {}
        labels = list(rule.overridden)
        for field_name, key, value, env in wanted:
            changes[field_name] = value
            labels.append(f"{field_name} <- {env} ({sources.get(key)})")
        rules[kind] = replace(rule, **changes, overridden=tuple(labels))
    for field_name, key, value, env in wanted:
        notes.append(f"{env}={value} overrides {field_name} of {', '.join(daily)}")
    return replace(policy, rules=rules, notes=tuple(notes))
