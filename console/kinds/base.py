"""What every kind shares: the descriptor ``Kind`` a kind package exports, its ``Option``s, and the
request and result of one backup run.

A kind lives in one package (``console/kinds/<name>/``) and describes itself once in its
``kind.py``; ``console.kinds.registry`` lists the descriptors. The runner, the CLI, the Backup
screen, verify, the checklists and the schedule read a kind only through its descriptor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping

from console.artifacts import ArtifactInfo
from console.instances import DEFAULT, target_label
from console.layout import Layout
from console.preflight import Check, CheckResult

if TYPE_CHECKING:
    from console.config import Settings
    from console.progress import CancelToken, ProgressCallback


@dataclass(frozen=True)
class Option:
    """One switch of a kind's backup, declared once: the CLI makes a flag of it, the Backup screen a
    checkbox or an input. ``name`` is its key in ``BackupRequest.options``."""

    name: str
    help: str
    type: Literal["switch", "path"] = "switch"
    metavar: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def label(self) -> str:
        return self.flag


@dataclass(frozen=True)
class BackupRequest:
    kind: str
    target: str | None = None
    """What to back up within the kind: a database name for PostgreSQL, else None."""
    force_reason: str | None = None
    """Set when the operator overrode failed pre-flight checks; recorded in metadata and run log."""
    upload: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    """Kind-specific switches, e.g. {"no_sql": True}, {"no_aof": True}, {"archive": True}."""
    instance: str = DEFAULT
    """Which configured instance of the kind (``Settings.for_instance``)."""

    @property
    def label(self) -> str:
        """``postgres/analytics/shop``, ``redis``: what a person calls this run's target."""
        return target_label(self.kind, self.instance, self.target or "")


@dataclass(frozen=True)
class BackupResult:
    kind: str
    target: str
    status: str
    """"ok", "failed" or "cancelled"."""
    message: str
    set_id: str | None = None
    files: tuple[ArtifactInfo, ...] = ()
    metadata_path: Path | None = None
    duration_seconds: float = 0.0
    checks: tuple[CheckResult, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    instance: str = DEFAULT

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def label(self) -> str:
        return target_label(self.kind, self.instance, self.target or "")

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "instance": self.instance,
            "target": self.target,
            "status": self.status,
            "message": self.message,
            "set_id": self.set_id,
            "files": [{"name": f.name, "path": str(f.path), "size_bytes": f.size_bytes, "sha256": f.sha256} for f in self.files],
            "metadata_path": str(self.metadata_path) if self.metadata_path else None,
            "duration_seconds": round(self.duration_seconds, 3),
            "checks": [check.as_json() for check in self.checks],
            **({"extra": dict(self.extra)} if self.extra else {}),
        }


RunBackup = Callable[["Settings", BackupRequest, "ProgressCallback | None", "CancelToken | None"], BackupResult]


@dataclass(frozen=True)
class Kind:
    """Everything the rest of the console knows about one kind of backup."""

    name: str
    """The directory under BACKUP_DIR, the CLI word and the check-id prefix: ``postgres``."""
    title: str
    """For people: ``PostgreSQL``."""
    help: str
    layout: Layout
    """Its directory's file names, for writing and for reading (also listed in ``kinds.layouts``)."""
    preflight: tuple[str, ...]
    """Check ids run before a backup (``<kind>.<check>`` or ``common.<check>``)."""
    checks: Mapping[str, Check]
    """This kind's pre-flight checks by short name (checklists refer to them as ``<kind>.<name>``)."""
    run: Callable[..., BackupResult]
    """``run(settings, request, on_progress=None, cancel=None)``: writes one set (ArtifactSet: nothing
    partial survives a failure)."""
    lock_name: Callable[["Settings", BackupRequest], str]
    verifier: ModuleType
    """``check_file(ctx, item)``; optionally ``deep_check(ctx)``, ``LEGACY_DEFECT``, ``legacy_metadata``,
    ``missing_metadata``."""
    options: tuple[Option, ...] = ()
    extra_checks: Mapping[str, Mapping[str, Check]] = field(default_factory=dict)
    """Checks under another prefix that belong to this kind (PostgreSQL's ``pitr.*``)."""
    preflight_for: Callable[[BackupRequest], tuple[str, ...]] | None = None
    """The check ids of one request when its options change them (a physical base backup)."""
    check_request: Callable[[BackupRequest], None] | None = None
    """Raises UsageError for a combination of targets and options the kind cannot run."""
    target_label: str | None = None
    """What a target is called when a kind has several (``database``); None: one per kind."""
    target_flag: str | None = None
    """The CLI flag naming targets (``--db``, repeatable); the configured ones when it is not given."""
    target_help: str = ""
    default_targets: Callable[["Settings"], list[str]] | None = None
    """The configured targets, when a kind has several (a backup with none named runs these)."""
    offered_targets: Callable[["Settings"], list[str]] | None = None
    """What a picker offers: configured targets first, then what the server has."""
    option_defaults: Callable[["Settings", Mapping[str, Any]], dict[str, Any]] | None = None
    """Fills options from settings where the operator did not choose (``postgres.archive``)."""
    s3_type: str = ""
    """``backup-type`` in the S3 object metadata (the manual's words: ``postgresql``)."""
    daily: bool = False
    """Backed up every night (freshness applies); config and certificates are backed up on change."""
    cli_epilog: str | None = None
    whole_target: Callable[[Mapping[str, Any]], bool] = lambda options: False
    """True when these options back up the whole server rather than each target (``--physical``)."""

    def request(self, settings: Settings, target: str | None = None, options: Mapping[str, Any] | None = None,
                force_reason: str | None = None, upload: bool = False, instance: str | None = None) -> BackupRequest:
        """One run of this kind, its options completed from the (instance's) settings."""
        instance = instance or settings.instance_of(self.name)
        scoped = settings.for_instance(self.name, instance)
        given = options or {}
        chosen = {option.name: bool(given.get(option.name)) if option.type == "switch" else (given.get(option.name) or None)
                  for option in self.options}
        if self.option_defaults is not None:
            chosen = self.option_defaults(scoped, chosen)
        return BackupRequest(self.name, target, force_reason=force_reason, upload=upload, options=chosen, instance=instance)

    def requests(self, settings: Settings, targets: list[str] | None = None, options: Mapping[str, Any] | None = None,
                 force_reason: str | None = None, upload: bool = False, instance: str | None = None) -> list[BackupRequest]:
        """The runs one "back up this kind" (instance) asks for: one per target (its configured ones by default)."""
        instance = instance or settings.instance_of(self.name)
        scoped = settings.for_instance(self.name, instance)
        names: list[str | None] = list(targets or [])
        if not names and self.whole_target(options or {}):
            names = [None]
        if not names:
            names = list(self.default_targets(scoped)) if self.default_targets else [None]
        requests = [self.request(settings, name, options, force_reason, upload, instance) for name in names]
        if self.check_request is not None:
            for request in requests:
                self.check_request(request)
        return requests

    def preflight_of(self, request: BackupRequest) -> tuple[str, ...]:
        return self.preflight_for(request) if self.preflight_for is not None else self.preflight
