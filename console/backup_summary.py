"""What the dashboard's Backups panel shows, in two passes that a refresh runs side by side.

The catalog pass reads the catalog and the run log once: every target's newest set (its own
verification and last run), the locks held, and the monitor's findings that need nothing else
(freshness, a failed last run, verification). The probe pass adds the findings that need the
probes' results (storage, tools, WAL archiving). So a hanging server delays only those: until they
are in, the summary names them as pending, and the panel says so instead of "OK".
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from console.catalog import KINDS, Catalog, scan
from console.lock import held_locks
from console.monitor import Finding, MonitorReport, add_probe_findings, catalog_findings, worst_first
from console.runlog import read_runs
from console.verify.state import configured_targets, target_states

if TYPE_CHECKING:
    from console.config import Settings
    from console.probes import ProbeResult

PROBE_FINDINGS = ("storage", "tools", "WAL archiving")
"""What the probe pass adds, in words: the summary's ``pending`` until it has run."""


@dataclass(frozen=True)
class BackupSummary:
    """What the dashboard shows about backups: every target's newest set and last run, running now."""

    targets: list[Any]
    """console.verify.state.TargetState per target, in kind order (what ``status`` prints too)."""
    running: list[Any]
    findings: list[Any] | None = None
    """console.monitor.Finding list (none "ok"), worst first; None when not evaluated."""
    instances: list[tuple[str, str]] | None = None
    """(kind, instance) of every configured instance of every kind; None: the default instance of each."""
    configured: list[tuple[str, str, str]] | None = None
    """(kind, instance, database or "") of every configured target: each gets a line, "never" without a set."""
    pending: tuple[str, ...] = ()
    """Findings not evaluated yet (PROBE_FINDINGS while the first probe round runs): ``findings`` holds
    the others, so nothing may be called OK yet."""


@dataclass(frozen=True)
class CatalogPass:
    """One read of the catalog and the run log, and what the panel needs from it."""

    catalog: Catalog
    summary: BackupSummary
    """Its ``findings`` are the catalog's own (freshness, failed runs, verification)."""

    def with_probe_findings(self, probe_findings: list[Finding] | None) -> BackupSummary:
        """The summary with the probe pass's findings merged in, worst first; None: not evaluated yet,
        so they are pending."""
        if probe_findings is None:
            return replace(self.summary, pending=PROBE_FINDINGS)
        return replace(self.summary, findings=sorted(self.summary.findings + probe_findings, key=worst_first))


def catalog_pass(settings: Settings, now: float) -> CatalogPass:
    """Every target's newest set, the locks held and the catalog-only findings, from one scan (kept by
    ``console.catalog`` while the directories are unchanged) and one read of the run log."""
    catalog = scan(settings.backup_dir)
    runs = read_runs(settings.backup_dir)
    targets = target_states(settings, catalog, runs)
    findings = [f for f in catalog_findings(settings, catalog, now, runs).findings if f.severity != "ok"]
    instances = [(kind, instance.name) for kind in KINDS for instance in settings.instances_of(kind)]
    summary = BackupSummary(targets, held_locks(settings.backup_dir), sorted(findings, key=worst_first), instances,
                            configured_targets(settings))
    return CatalogPass(catalog, summary)


def probe_findings(settings: Settings, catalog: Catalog, probes: dict[str, ProbeResult], now: float) -> list[Finding]:
    """The findings that need the probes (by label), none "ok"; certificates are left to their own panel."""
    report = add_probe_findings(MonitorReport(now, []), settings, catalog, probes, certificates=False,
                                problems_only=True)
    return [f for f in report.findings if f.severity != "ok"]


def scan_backups(settings: Settings, probes: dict[str, ProbeResult] | None = None,
                 now: float | None = None) -> BackupSummary:
    """Both passes one after the other: with ``probes``, every finding; without, the catalog's only and
    the probes' pending."""
    now = time.time() if now is None else now
    passed = catalog_pass(settings, now)
    return passed.with_probe_findings(None if probes is None else probe_findings(settings, passed.catalog, probes, now))
