"""BackupsPanel: one line per target (each database, each kind) with its newest set's age, that
set's own verification and the target's last run; then what runs now and the monitor's findings
(stale backups, archiver failures, low space). Findings still pending (the probes' own, while the
first round waits for a server) are named on a line and in the border, which then never says OK."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

from rich.text import Text
from textual.widgets import Static

from console.formatting import short_ago
from console.instances import DEFAULT
from console.instances import label as instance_label
from console.instances import target_label
from console.kinds.layouts import LAYOUTS

if TYPE_CHECKING:
    from console.backup_summary import BackupSummary
    from console.verify.state import TargetState

PER_TARGET_CATEGORIES = ("freshness", "backup_failed", "verification")
"""Findings about a target shown on its own line (age, last run, verification) are not listed again."""
LABEL_WIDTH = 16
KINDS: tuple[str, ...] = tuple(LAYOUTS)
"""Every kind, in the catalog's order (console.catalog.KINDS; the catalog is loaded by the panel's worker)."""
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


def target_line(state: TargetState, now: float, stale: bool = False, width: int = LABEL_WIDTH,
                brevity: int = 0) -> str:
    """One target's line; ``brevity`` 1 says "run FAILED 5m ago" for "last run FAILED 5m ago", 2 also
    drops "ago" after the verification and the run (the panel takes the longest form that fits)."""
    ago = short_ago if brevity < 2 else (lambda seconds: short_ago(seconds).removesuffix(" ago"))
    parts = [f"{state.label:<{width}}", f"{short_ago(state.age_seconds(now)):>7}" if state.set_id else "  never"]
    if stale:
        parts.append("STALE")
    if state.set_id:
        word = verification_word(state, now)
        parts.append(word.removesuffix(" ago") if brevity >= 2 else word)
    run = state.last_run
    if run is not None and run.status != "ok":
        parts.append(f"{'last run' if brevity < 1 else 'run'} {run.status.upper()} {ago(now - run.finished)}")
    return "  ".join(parts)


def target_rank(state: TargetState, stale: bool, severities: set[str]) -> int:
    """0: needs attention now (stale, FAILED, a run that did not succeed, a critical finding);
    1: worth a look (warning, unverified, never backed up, a warning finding); 2: quiet."""
    if stale or state.verification == "failed" or "critical" in severities or \
            state.last_run is not None and state.last_run.status != "ok":
        return 0
    if state.verification in ("warning", "unverified") or not state.set_id or severities:
        return 1
    return 2


@dataclass(frozen=True)
class PanelLine:
    """A line of the panel in its forms, longest first, and how much it needs to be seen."""

    forms: tuple[str, ...]
    rank: int
    """0 needs attention now, 1 worth a look, 2 quiet: when the lines do not fit, the quiet ones wait
    behind enter."""
    indent: int = 0
    """Above zero, a line too long for the panel goes on over a second row indented this much (an
    alert's advice is read whole); else the longest form that fits is taken, cut if none does."""

    @property
    def text(self) -> str:
        return self.forms[0]

    def fitted(self, width: int) -> list[str]:
        """The rows this line takes in a panel ``width`` columns wide (one, or two when it wraps)."""
        if self.indent and len(self.text) > width:
            first, _, rest = self.text[: width + 1].rpartition(" ")
            if not first.strip():
                first, rest = self.text[:width], ""
            rest = (rest + self.text[width + 1:]).strip()
            return [first, " " * self.indent + rest] if rest else [first]
        return [next((form for form in self.forms if len(form) <= width), self.forms[-1])]


def instance_of_subject(subject: str, configured: list[tuple[str, str]]) -> tuple[str, str]:
    """(kind, instance) a monitor finding's subject speaks of: ``postgres/analytics/shop`` names the
    instance analytics when one is configured, ``postgres/shop`` the default instance's database."""
    parts = subject.split("/")
    if len(parts) > 1 and (parts[0], parts[1]) in configured:
        return parts[0], parts[1]
    return parts[0], DEFAULT


def place(kind: str, instance: str, name: str) -> tuple[int, bool, str, str]:
    """Where a target's line goes: kind order, the default instance first, then instance and name."""
    return (KINDS.index(kind) if kind in KINDS else len(KINDS), instance != DEFAULT, instance, name)


def targets_without_sets(summary: BackupSummary, configured: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """(kind, instance, database or "") of the configured targets without a set or a run: every target the
    config names, and every instance of a kind that has none at all."""
    wanted = list(summary.configured or [])
    wanted += [(kind, instance, "") for kind, instance in configured
               if not any(target[:2] == (kind, instance) for target in wanted)
               and not any(state.kind == kind and state.instance == instance for state in summary.targets)]
    # Here, not at the top: the verification state and the catalog load with the catalog pass (its worker,
    # after the first frame); by the time a summary is drawn they are loaded.
    from console.verify.state import never_backed_up

    return never_backed_up(summary.targets, wanted)


class BackupsPanel(Static, can_focus=True):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("scanning backups...", id="panel-backups", classes="service-panel -pending", **kwargs)
        self.complete = False
        """Every finding is in: the probes' as well as the catalog's (the border names none PENDING)."""
        self.border_title = "Backups"
        self.border_subtitle = "..."
        self.findings: list[Any] = []
        self.rows: list[PanelLine] = []
        self.lines: list[str] = []
        """Every line whole, in the longest form (the panel fits them to its width; enter shows them in full)."""

    def show(self, summary: BackupSummary, now: float, in_scope: InScope | None = None) -> None:
        """``in_scope(kind, instance)``: whether the dashboard's filter and context show that instance;
        the lines (and findings) of the others are left out, the ALERT count still counts them."""
        if summary.findings is not None:
            self.findings = summary.findings
        shown = in_scope or (lambda kind, instance: True)
        represented: set[int] = set()
        bad_runs = failed_verify = 0
        configured = summary.instances or [(kind, DEFAULT) for kind in KINDS]
        unseen = [(kind, instance, name, target_label(kind, instance, name))
                  for kind, instance, name in targets_without_sets(summary, configured)]
        keyed: list[tuple[tuple[int, bool, str, str], PanelLine]] = []
        """Target lines with their place: kind order, the default instance first, then by name."""
        width = max([LABEL_WIDTH] + [len(state.label) for state in summary.targets if shown(state.kind, state.instance)]
                    + [len(label) for kind, instance, _, label in unseen if shown(kind, instance)])
        for state in summary.targets:
            stale = False
            severities: set[str] = set()
            for index, finding in enumerate(self.findings):
                if finding.category in PER_TARGET_CATEGORIES and finding.subject in (state.label, state.kind):
                    represented.add(index)
                    severities.add(finding.severity)
                    stale = stale or (finding.category == "freshness" and finding.severity == "critical")
            stale = stale and state.set_id is not None
            if shown(state.kind, state.instance):
                keyed.append((place(state.kind, state.instance, state.name),
                              PanelLine(tuple(target_line(state, now, stale, width, brevity) for brevity in range(3)),
                                        target_rank(state, stale, severities))))
            bad_runs += state.last_run is not None and state.last_run.status != "ok"
            failed_verify += state.verification == "failed"
        for kind, instance, name, label in unseen:
            severities = set()
            for index, finding in enumerate(self.findings):
                if finding.category in PER_TARGET_CATEGORIES and (
                        finding.subject == label or instance_of_subject(finding.subject, configured) == (kind, instance)
                        and label == instance_label(kind, instance)):
                    represented.add(index)
                    severities.add(finding.severity)
            if shown(kind, instance):
                keyed.append((place(kind, instance, name or kind),
                              PanelLine((f"{label:<{width}}    never",), 0 if "critical" in severities else 1)))
        rows: list[PanelLine] = [line for _, line in sorted(keyed, key=lambda item: item[0])]
        for lock in summary.running:
            rows.append(PanelLine((f"running: {lock.description} (pid {lock.pid})",), 0))
        critical = [f for f in self.findings if f.severity == "critical"]
        for index, finding in enumerate(self.findings):
            if index not in represented:
                alert = finding.severity == "critical"
                word = "ALERT: " if alert else "warn: "
                rows.append(PanelLine((f"{word}{finding.message}",), 0 if alert else 1, indent=len(word)))
        pending = summary.pending
        self.complete = not pending
        if pending:
            rows.append(PanelLine((f"pending: {', '.join(pending)} (waiting for the probes)",
                                   f"pending: {', '.join(pending)}"), 1))
        self.rows = rows
        self.lines = [row.text for row in rows]
        self._draw()
        bad = bad_runs > 0 or failed_verify > 0 or bool(critical)
        quiet = not bad and not self.findings
        self.set_class(bad, "-down")
        self.set_class(not bad and bool(self.findings), "-degraded")
        self.set_class(quiet and not pending, "-up")
        self.set_class(quiet and bool(pending), "-pending")  # never OK before every finding is in
        if bad:
            word = f"{len(critical) or bad_runs + failed_verify} ALERT(S)"
        else:
            word = "RUNNING" if summary.running else ("WARN" if self.findings else "" if pending else "OK")
        self.border_subtitle = " · ".join(part for part in (word, "PENDING" if pending else "") if part)

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        """What fits the panel, each line in the longest form its width takes (an alert over two rows).
        When the lines need more rows than there are, the ones that need attention (alerts, failures,
        stale sets) are kept, in their order, and the last row says how many more there are (enter
        shows them all)."""
        if not self.rows:
            return
        room = max(1, self.content_size.height)
        width = self.content_size.width or max(len(row.text) for row in self.rows)
        fitted = [row.fitted(width) for row in self.rows]
        kept = range(len(fitted))
        more: list[str] = []
        if sum(len(rows) for rows in fitted) > room:
            budget, chosen = room - 1, []
            for index in sorted(kept, key=lambda index: (self.rows[index].rank, index)):
                if len(fitted[index]) <= budget:
                    chosen.append(index)
                    budget -= len(fitted[index])
            kept = sorted(chosen)
            more = [f"... {len(fitted) - len(kept)} more: enter shows every line"]
        shown = [text for index in kept for text in fitted[index]] + more
        self.update(Text("\n".join(shown), no_wrap=True, overflow="ellipsis"))
