"""Messages shared between screens and workers, named as past-tense events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from console.probes import ProbeResult


class ProbeFinished(Message):
    """One service's probe result arrived (posted from a worker thread)."""

    def __init__(self, result: ProbeResult) -> None:
        super().__init__()
        self.result = result


class ProbeRoundFinished(Message):
    """Every probe of a refresh round has reported; the next round may be scheduled."""


@dataclass(frozen=True)
class BackupSummary:
    """What the dashboard shows about backups: every target's newest set and last run, running now."""

    targets: list[Any]
    """console.verify.state.TargetState per target, in kind order (what ``status`` prints too)."""
    running: list[Any]
    findings: list[Any] | None = None
    """console.monitor.Finding list, worst first; None when not evaluated this round."""
    instances: list[tuple[str, str]] | None = None
    """(kind, instance) of every configured instance of every kind; None: the default instance of each."""
    configured: list[tuple[str, str, str]] | None = None
    """(kind, instance, database or "") of every configured target: each gets a line, "never" without a set."""


class BackupsScanned(Message):
    def __init__(self, summary: BackupSummary) -> None:
        super().__init__()
        self.summary = summary


class NewestDrillFound(Message):
    """The newest drill's id (None: no drill yet), found off the UI thread."""

    def __init__(self, drill_id: str | None) -> None:
        super().__init__()
        self.drill_id = drill_id
