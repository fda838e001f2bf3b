"""BackupsPanel: one line per target (each database, each kind) with its newest set's age, that
set's own verification and the target's last run; then what runs now and the monitor's findings
(stale backups, archiver failures, low space)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

from rich.text import Text
from textual.widgets import Static

from console.catalog import KINDS
from console.formatting import short_ago
from console.instances import DEFAULT
from console.instances import label as instance_label

if TYPE_CHECKING:
    from console.verify.state import TargetState
    from screens.messages import BackupSummary

PER_TARGET_CATEGORIES = ("freshness", "backup_failed", "verification")
"""Findings about a target shown on its own line (age, last run, verification) are not listed again."""
LABEL_WIDTH = 16
InScope = Callable[[str, str], bool]
"""(kind, instance) -> whether the dashboard shows that instance now."""


def verification_word(state: TargetState, now: float) -> str:
    """The newest set's own state: "verified 2h ago", "unverified", "warning", "FAILED"."""
    if state.verification == "verified":
        try:
            at = datetime.fromisoformat(state.verified_at).timestamp() if state.verified_at else None
        except ValueError:
            at = None
        return f"verified {short_ago(now - at)}" if at is not None else "verified"
    if state.verification == "failed":
        return "FAILED"
    return state.verification or ""


def target_line(state: TargetState, now: float, stale: bool = False, width: int = LABEL_WIDTH) -> str:
    parts = [f"{state.label:<{width}}", f"{short_ago(state.age_seconds(now)):>7}" if state.set_id else "  never"]
    if stale:
        parts.append("STALE")
    if state.set_id:
        parts.append(verification_word(state, now))
    run = state.last_run
    if run is not None and run.status != "ok":
        parts.append(f"last run {run.status.upper()} {short_ago(now - run.finished)}")
    return "  ".join(parts)


def instance_of_subject(subject: str, configured: list[tuple[str, str]]) -> tuple[str, str]:
    """(kind, instance) a monitor finding's subject speaks of: ``postgres/analytics/shop`` names the
    instance analytics when one is configured, ``postgres/shop`` the default instance's database."""
    parts = subject.split("/")
    if len(parts) > 1 and (parts[0], parts[1]) in configured:
        return parts[0], parts[1]
    return parts[0], DEFAULT


class BackupsPanel(Static, can_focus=True):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("scanning backups...", id="panel-backups", classes="service-panel -pending", **kwargs)
        self.border_title = "Backups"
        self.border_subtitle = "..."
        self.findings: list[Any] = []
        self.lines: list[str] = []
        """Every line whole (the panel cuts them at its width; enter shows them in full)."""

    def show(self, summary: BackupSummary, now: float, in_scope: InScope | None = None) -> None:
        """``in_scope(kind, instance)``: whether the dashboard's filter and context show that instance;
        the lines (and findings) of the others are left out, the ALERT count still counts them."""
        if summary.findings is not None:
            self.findings = summary.findings
        shown = in_scope or (lambda kind, instance: True)
        lines = []
        represented: set[int] = set()
        bad_runs = failed_verify = 0
        configured = summary.instances or [(kind, DEFAULT) for kind in KINDS]
        unseen = [(kind, instance) for kind, instance in configured
                  if not any(state.kind == kind and state.instance == instance for state in summary.targets)]
        width = max([LABEL_WIDTH] + [len(state.label) for state in summary.targets if shown(state.kind, state.instance)]
                    + [len(instance_label(kind, instance)) for kind, instance in unseen if shown(kind, instance)])
        for state in summary.targets:
            stale = False
            for index, finding in enumerate(self.findings):
                if finding.category in PER_TARGET_CATEGORIES and finding.subject in (state.label, state.kind):
                    represented.add(index)
                    stale = stale or (finding.category == "freshness" and finding.severity == "critical")
            if shown(state.kind, state.instance):
                lines.append(target_line(state, now, stale and state.set_id is not None, width))
            bad_runs += state.last_run is not None and state.last_run.status != "ok"
            failed_verify += state.verification == "failed"
        for kind, instance in unseen:
            for index, finding in enumerate(self.findings):
                if finding.category in PER_TARGET_CATEGORIES and instance_of_subject(finding.subject, configured) \
                        == (kind, instance):
                    represented.add(index)
            if shown(kind, instance):
                lines.append(f"{instance_label(kind, instance):<{width}}    never")
        for lock in summary.running:
            lines.append(f"running: {lock.description} (pid {lock.pid})")
        critical = [f for f in self.findings if f.severity == "critical"]
        for index, finding in enumerate(self.findings):
            if index not in represented:
                lines.append(f"{'ALERT' if finding.severity == 'critical' else 'warn'}: {finding.message}")
        self.lines = lines
        self._draw()
        bad = bad_runs > 0 or failed_verify > 0 or bool(critical)
        self.remove_class("-pending")
        self.set_class(bad, "-down")
        self.set_class(not bad and bool(self.findings), "-degraded")
        self.set_class(not bad and not self.findings, "-up")
        if bad:
            self.border_subtitle = f"{len(critical) or bad_runs + failed_verify} ALERT(S)"
        else:
            self.border_subtitle = "RUNNING" if summary.running else ("WARN" if self.findings else "OK")

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        """What fits the panel; the last line says how many more there are (enter shows them all)."""
        if not self.lines:
            return
        room = max(1, self.content_size.height)
        shown = self.lines
        if len(shown) > room:
            shown = shown[: room - 1] + [f"... {len(self.lines) - room + 1} more: enter shows every line"]
        self.update(Text("\n".join(shown), no_wrap=True, overflow="ellipsis"))
