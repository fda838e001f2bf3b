"""BackupsPanel: per kind the newest backup, its last verification and a failed last run; then
what runs now and the monitor's findings (stale backups, archiver failures, low space)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.widgets import Static

from console.catalog import KINDS
from console.formatting import ago

if TYPE_CHECKING:
    from screens.messages import BackupSummary

MAX_FINDINGS = 4
PER_KIND_CATEGORIES = ("freshness", "backup_failed", "verification")
"""Findings about a target shown on its own line (age, last run, verification) are not listed again."""
VERIFY_WORDS = {"passed": "verified", "warning": "verify WARN", "failed": "verify FAILED"}


class BackupsPanel(Static, can_focus=True):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("scanning backups...", id="panel-backups", classes="service-panel -pending", **kwargs)
        self.border_title = "Backups"
        self.border_subtitle = "..."
        self.findings: list[Any] = []

    def show(self, summary: BackupSummary, now: float) -> None:
        if summary.findings is not None:
            self.findings = summary.findings
        newest: dict[str, dict[str, Any]] = {}
        for item in summary.latest:
            newest.setdefault(item["kind"], item)
        failed_runs = 0
        lines = []
        represented: set[int] = set()
        for kind in KINDS:
            item = newest.get(kind)
            label = f"{kind}/{item['name']}" if item and item["name"] and item["name"] != kind else kind
            parts = [f"{label:<16}", ago(now - item["timestamp"]) if item else "never"]
            for index, finding in enumerate(self.findings):
                if finding.category not in PER_KIND_CATEGORIES:
                    continue
                if finding.subject == label or (item is None and finding.subject.split("/")[0] == kind):
                    represented.add(index)
                    if item and finding.category == "freshness" and finding.severity == "critical":
                        parts.append("STALE")
            verification = summary.verifications.get(kind)
            if verification is not None:
                parts.append(VERIFY_WORDS.get(verification.status, verification.status))
            run = summary.last_runs.get(kind)
            if run is not None and run.status != "ok":
                failed_runs += 1
                parts.append(f"last run {run.status.upper()} {ago(now - run.finished)}")
            lines.append("  ".join(parts))
        for lock in summary.running:
            lines.append(f"running: {lock.description} (pid {lock.pid})")
        critical = [f for f in self.findings if f.severity == "critical"]
        listed = [f for index, f in enumerate(self.findings) if index not in represented]
        for finding in listed[:MAX_FINDINGS]:
            lines.append(f"{'ALERT' if finding.severity == 'critical' else 'warn'}: {finding.message}")
        if len(listed) > MAX_FINDINGS:
            lines.append(f"... {len(listed) - MAX_FINDINGS} more: backup-console monitor")
        self.update(Text("\n".join(lines), no_wrap=True, overflow="ellipsis"))
        failed_verify = any(v.status == "failed" for v in summary.verifications.values())
        bad = failed_runs > 0 or failed_verify or bool(critical)
        self.remove_class("-pending")
        self.set_class(bad, "-down")
        self.set_class(not bad and bool(self.findings), "-degraded")
        self.set_class(not bad and not self.findings, "-up")
        if bad:
            self.border_subtitle = f"{len(critical) or failed_runs + int(failed_verify)} ALERT(S)"
        else:
            self.border_subtitle = "RUNNING" if summary.running else ("WARN" if self.findings else "OK")
