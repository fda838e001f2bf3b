"""Monitoring: is every scheduled backup fresh, verified and restorable, and is anything about
to break the next one? ``evaluate(settings)`` returns findings with a severity; the CLI, the
dashboard and the alerts all read the same list.

A finding is ``critical`` when it needs someone now (stale or failed backup, failed
verification, WAL archiving failing, a certificate critical or expired, pg_dump too old, the
backup directory not writable); ``warning`` when it will matter soon; ``ok`` otherwise.
``collect`` adds the numbers behind them, which console.prometheus writes out.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from console.catalog import BackupSet, Catalog, metadata_is_ours, read_metadata_unchanged, scan
from console.errors import ConsoleError
from console.formatting import ago, size
from console.freshness import is_fresh
from console.instances import DEFAULT, target_label
from console.runlog import RunRecord, read_runs
from console.status import Status
from console.verify.state import configured_targets

if TYPE_CHECKING:
    from console.config import Settings
    from console.probes import ProbeResult

SEVERITIES = tuple(status.severity for status in (Status.OK, Status.WARN, Status.FAIL))
"""ok, warning, critical: console.status.Status as a finding says it."""
ALERT_CATEGORIES = ("backup_failed", "verification", "freshness", "wal_archiver", "certificates")
"""Categories whose critical findings are sent to the webhook (console.alerts)."""
VERIFICATION_VALUES = ("passed", "warning", "failed", "pending", "unknown")
_VERDICTS = tuple(status.report_word for status in (Status.OK, Status.WARN, Status.FAIL))


@dataclass(frozen=True)
class Finding:
    id: str
    """Stable key, e.g. "freshness:postgres/app"; alerts are de-duplicated by it."""
    category: str
    severity: str
    subject: str
    message: str
    evidence: str = ""

    @property
    def alerting(self) -> bool:
        return self.severity == "critical"

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "category": self.category, "severity": self.severity, "subject": self.subject,
                "message": self.message, "evidence": self.evidence}


@dataclass(frozen=True)
class TargetState:
    """The newest backup of one kind/database, as monitoring sees it."""

    kind: str
    name: str
    set_id: str | None
    timestamp: float | None
    size_bytes: int | None
    duration_seconds: float | None
    verification: str
    instance: str = DEFAULT

    @property
    def label(self) -> str:
        return target_label(self.kind, self.instance, self.name)


@dataclass
class MonitorReport:
    generated_at: float
    findings: list[Finding]
    targets: list[TargetState] = field(default_factory=list)
    storage: dict[str, Any] = field(default_factory=dict)
    wal: dict[str, Any] = field(default_factory=dict)
    """The default PostgreSQL instance's archiver and recovery window (else the first instance's)."""
    wal_instances: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The same for every PostgreSQL instance probed, by instance name."""
    certificates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def alerting(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.alerting]

    def as_json(self) -> dict[str, Any]:
        return {"generated_at": datetime.fromtimestamp(self.generated_at).astimezone().isoformat(timespec="seconds"),
                "alerting": len(self.alerting), "findings": [f.as_json() for f in self.findings],
                "targets": [vars(t) for t in self.targets], "storage": self.storage, "wal": self.wal,
                "wal_instances": self.wal_instances, "certificates": self.certificates}


def evaluate(settings: Settings, now: float | None = None) -> list[Finding]:
    """The findings, worst first: what the dashboard and ``monitor`` show."""
    return collect(settings, now).findings


def collect(settings: Settings, now: float | None = None, probes: dict[str, ProbeResult] | None = None,
            certificates: bool = True) -> MonitorReport:
    """Evaluate everything; ``probes`` may pass results the caller already has (by their ``label``:
    ``postgres``, ``postgres/analytics``).

    ``certificates=False`` skips the certificate walk (the dashboard has its own Certificates panel).
    """
    from console.probes import probe_all

    now = time.time() if now is None else now
    if probes is None:
        wanted = ["storage"] + (["postgres"] if "postgres" in settings.alerts.scheduled_kinds else [])
        probes = {result.label: result for result in probe_all(settings, wanted)}
    catalog = scan(settings.backup_dir)
    report = catalog_findings(settings, catalog, now)
    add_probe_findings(report, settings, catalog, probes, certificates)
    report.findings.sort(key=worst_first)
    return report


def worst_first(finding: Finding) -> tuple[int, str, str]:
    """The order findings are listed in: critical first, then by category and subject."""
    return (-SEVERITIES.index(finding.severity), finding.category, finding.subject)


def catalog_findings(settings: Settings, catalog: Catalog, now: float,
                     runs: list[RunRecord] | None = None) -> MonitorReport:
    """The findings that need only the catalog and the run log (``runs``: read when not given): each
    scheduled target's freshness, its last run when it failed, its newest set's verification. Unsorted.

    The dashboard shows these as soon as the catalog is read, before the probes answer."""
    report = MonitorReport(now, [])
    _freshness(settings, catalog, now, report, read_runs(settings.backup_dir) if runs is None else runs)
    return report


def add_probe_findings(report: MonitorReport, settings: Settings, catalog: Catalog,
                       probes: dict[str, ProbeResult], certificates: bool = True,
                       problems_only: bool = False) -> MonitorReport:
    """Add to ``report`` the findings that need the probes' results: BACKUP_DIR's storage, the tools
    (pg_dump against the servers' versions), WAL archiving; and the certificates unless told not to.

    ``problems_only`` leaves out a finding that can only be "ok" here (the dashboard shows problems
    only): with openssl installed, the legacy encrypted sets are not counted, which reads the metadata
    of every encrypted config and certs set (4,000 files at 10,000 sets)."""
    _storage(probes.get("storage"), report)
    postgres = [result for result in probes.values() if result.name == "postgres"]
    _tools(settings, catalog, postgres, report, problems_only)
    for result in postgres:
        _wal(result, report)
    if certificates:
        _certificates(settings, report)
    return report


def expected_targets(settings: Settings, catalog: Catalog) -> list[tuple[str, str, str]]:
    """(kind, instance, name) the schedule should produce: each database of each scheduled postgres
    instance, each scheduled instance once for the other kinds."""
    return configured_targets(settings, settings.alerts.scheduled_kinds, scheduled_only=True)


def _target_state(kind: str, instance: str, name: str, latest: BackupSet | None) -> TargetState:
    if latest is None:
        return TargetState(kind, name, None, None, None, None, "unknown", instance)
    document = read_metadata_unchanged(latest).document or {}  # a view: read again only when changed
    status = document.get("verification_status")
    duration = document.get("duration_seconds", document.get("backup_time_seconds"))
    return TargetState(kind, name, latest.set_id, latest.timestamp.timestamp(), latest.size_bytes,
                       float(duration) if isinstance(duration, (int, float)) and not isinstance(duration, bool) else None,
                       status if status in VERIFICATION_VALUES else "unknown", instance)


def _freshness(settings: Settings, catalog: Catalog, now: float, report: MonitorReport, runs: list[RunRecord]) -> None:
    last_run: dict[tuple[str, str, str], Any] = {}
    for record in runs:
        if record.action == "backup":
            last_run[(record.kind, record.instance, record.target or "")] = record
    latest = catalog.latest_by_target()
    for kind, instance, name in expected_targets(settings, catalog):
        label = target_label(kind, instance, name)
        state = _target_state(kind, instance, name, latest.get((kind, instance, name if kind == "postgres" else None)))
        report.targets.append(state)
        if state.timestamp is None:
            report.findings.append(Finding(f"freshness:{label}", "freshness", "critical", label,
                                           f"no {label} backup found",
                                           f"nothing under {settings.root.kind_dir(kind, instance)}"))
        else:
            age = now - state.timestamp
            evidence = f"newest {state.set_id}, {ago(age)}; stale after {settings.alerts.stale_hours} h"
            if not is_fresh(settings, age):
                report.findings.append(Finding(f"freshness:{label}", "freshness", "critical", label,
                                               f"{label} backup is stale ({ago(age)})", evidence))
            else:
                report.findings.append(Finding(f"freshness:{label}", "freshness", "ok", label,
                                               f"{label} backed up {ago(age)}", evidence))
        record = last_run.get((kind, instance, name)) or (last_run.get((kind, instance, "")) if not name else None)
        if record is not None and record.status == "failed" and record.finished > (state.timestamp or 0):
            report.findings.append(Finding(f"backup_failed:{label}", "backup_failed", "critical", label,
                                           f"last {label} backup failed: {record.message}",
                                           f"run log: {datetime.fromtimestamp(record.finished):%Y-%m-%d %H:%M:%S}"))
        if state.set_id is None:
            continue
        verdict = state.verification
        evidence = f"verification_status of {state.set_id}: {verdict}"
        status = Status.of(verdict) if verdict in _VERDICTS else Status.PENDING  # pending, unknown, none yet
        if status is Status.FAIL:
            report.findings.append(Finding(f"verification:{label}", "verification", status.severity, label,
                                           f"newest {label} backup failed verification", evidence))
        elif status is Status.WARN:
            report.findings.append(Finding(f"verification:{label}", "verification", status.severity, label,
                                           f"newest {label} backup verified with warnings", evidence))
        elif status is Status.PENDING and state.timestamp is not None and not is_fresh(settings, now - state.timestamp):
            report.findings.append(Finding(f"verification:{label}", "verification", status.severity, label,
                                           f"newest {label} backup not verified", evidence))


def _storage(result: ProbeResult | None, report: MonitorReport) -> None:
    if result is None:
        return
    report.storage = dict(result.metrics)
    severity = {"up": "ok", "degraded": "warning"}.get(result.state.value, "critical")
    evidence = (f"free {size(result.metrics.get('free_bytes'))} of {size(result.metrics.get('total_bytes'))}, "
                f"backups use {size(result.metrics.get('backups_bytes'))}") if result.metrics else ""
    report.findings.append(Finding("storage:backup_dir", "storage", severity, "BACKUP_DIR", result.detail, evidence))


def _tools(settings: Settings, catalog: Catalog, postgres_probes: list[ProbeResult], report: MonitorReport,
           problems_only: bool = False) -> None:
    scheduled = settings.alerts.scheduled_kinds
    if "postgres" in scheduled:
        from console.kinds.postgres.client import find_tool

        try:
            tool = find_tool("pg_dump", settings.postgres.bin_dir)
        except ConsoleError as exc:
            report.findings.append(Finding("tools:pg_dump", "tools", "critical", "pg_dump", exc.message, exc.hint or ""))
        else:
            versions = [(result, str(result.metrics.get("version") or "")) for result in postgres_probes]
            majors = [(result, int(v.split(".")[0])) for result, v in versions if v.split(".")[0].isdigit()]
            newest = max(majors, key=lambda pair: pair[1], default=None)
            shown = "; ".join(f"server {'' if result.instance == DEFAULT else result.label + ' '}{v.split()[0]}"
                              for result, v in versions if v)
            evidence = f"{tool.path}: {tool.version}" + (f"; {shown}" if shown else "; server not reached")
            if newest is not None and tool.major < newest[1]:
                report.findings.append(Finding("tools:pg_dump", "tools", "critical", "pg_dump",
                                               f"pg_dump {tool.major} is older than the server "
                                               f"{'' if newest[0].instance == DEFAULT else newest[0].label + ' '}"
                                               f"({newest[1]})", evidence))
            else:
                report.findings.append(Finding("tools:pg_dump", "tools", "ok", "pg_dump", f"pg_dump {tool.major}", evidence))
    if "redis" in scheduled:
        found = shutil.which("redis-cli")
        report.findings.append(Finding("tools:redis-cli", "tools", "ok" if found else "warning", "redis-cli",
                                       "redis-cli available" if found else "redis-cli not installed "
                                       "(the manual's AOF fallback `redis-cli --pipe` needs it)", found or "not on PATH"))
    found = shutil.which("openssl")
    if found and problems_only:
        return
    legacy = [s for s in catalog.sets if s.kind in ("config", "certs")
              and any(f.name.endswith(".enc") for f in s.files) and not metadata_is_ours(s)]
    if legacy:
        report.findings.append(Finding(
            "tools:openssl", "tools", "ok" if found else "warning", "openssl",
            "openssl available" if found else "openssl not installed: the manual's steps for its encrypted files need it",
            f"{len(legacy)} legacy encrypted set(s), e.g. {legacy[-1].set_id}; openssl: {found or 'not on PATH'}"))


def _wal(postgres: ProbeResult | None, report: MonitorReport) -> None:
    if postgres is None:
        return
    metrics = postgres.metrics
    if not metrics:
        report.findings.append(Finding(f"service:{postgres.label}", "service", "warning", postgres.label, postgres.detail))
        return
    wal = {key: metrics.get(key) for key in ("recovery_window", "archive_mode", "archived_count",
                                                     "archive_failed_count",
                                                     "last_archived_wal", "last_archived_at", "last_failed_wal",
                                                     "last_failed_at")}
    if postgres.instance == DEFAULT or not report.wal:  # the default instance's, else the first one's
        report.wal = wal
    report.wal_instances[postgres.instance] = wal
    mode = metrics.get("archive_mode")
    failed = metrics.get("archive_failed_count") or 0
    evidence = (f"archive_mode {mode}, archived {metrics.get('archived_count')}, failed {failed}, "
                f"last failed {metrics.get('last_failed_wal') or '-'}")
    if mode == "off":
        report.findings.append(Finding(f"wal_archiver:{postgres.label}", "wal_archiver", "warning", postgres.label,
                                       "WAL archiving is off (no point-in-time recovery)", evidence))
    elif failed and (metrics.get("last_archived_at") or 0) < (metrics.get("last_failed_at") or 0):
        report.findings.append(Finding(f"wal_archiver:{postgres.label}", "wal_archiver", "critical", postgres.label,
                                       f"WAL archiving is failing ({metrics.get('last_failed_wal')})", evidence))
    else:
        report.findings.append(Finding(f"wal_archiver:{postgres.label}", "wal_archiver", "ok", postgres.label,
                                       "WAL archiving working", evidence))
    window = metrics.get("recovery_window") or {}
    if window.get("first_gap"):
        report.findings.append(Finding(f"wal_continuity:{postgres.label}", "wal_archiver", "critical", postgres.label,
                                       f"WAL archive has a gap at {window['first_gap']}: recovery cannot pass it",
                                       window.get("summary", "")))


def _certificates(settings: Settings, report: MonitorReport) -> None:
    explicit = settings.sources.get("certs.cert_dir", "default") != "default"
    if not explicit:
        # like status: the manual's default "." would walk whatever directory cron starts in
        if "certs" in settings.alerts.scheduled_kinds:
            report.findings.append(Finding("certificates:dir", "certificates", "warning", "CERT_DIR",
                                           "certificate expiry is not watched: set CERT_DIR (certs.cert_dir)"))
        return
    try:
        from console.kinds.certs.inventory import build_inventory, cert_dir_of
    except ImportError:
        return
    cert_dir = cert_dir_of(settings)
    if not cert_dir.is_dir():
        report.findings.append(Finding("certificates:dir", "certificates", "warning", str(cert_dir),
                                       f"certificate directory {cert_dir} does not exist"))
        return
    inventory = build_inventory(cert_dir, settings)
    for cert in inventory.certificates:
        report.certificates.append({"file": cert.file, "index": cert.index, "name": cert.common_name or cert.subject,
                                    "days_left": cert.days_left, "state": cert.state})
        if cert.state == "ok":
            continue
        severity = Status.of(cert.state).severity  # warn; expired and critical are failures
        subject = f"{cert.file}#{cert.index}" if cert.index else cert.file
        what = "expired" if cert.state == "expired" else f"expires in {cert.days_left} d"
        report.findings.append(Finding(f"certificates:{subject}", "certificates", severity, subject,
                                       f"certificate {cert.common_name or cert.subject} {what}",
                                       f"valid to {cert.valid_to}; warn {settings.certs.warn_days} d, "
                                       f"critical {settings.certs.critical_days} d"))
    if inventory.certificates and all(c.state == "ok" for c in inventory.certificates):
        soonest = inventory.soonest
        report.findings.append(Finding("certificates:all", "certificates", "ok", str(cert_dir),
                                       f"{len(inventory.certificates)} certificate(s) ok",
                                       f"soonest expiry in {soonest.days_left} d" if soonest else ""))
