"""Messages shared between screens and workers, named as past-tense events."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from console.backup_summary import BackupSummary
    from console.probes import ProbeResult


class ProbeFinished(Message):
    """One service's probe result arrived (posted from a worker thread)."""

    def __init__(self, result: ProbeResult) -> None:
        super().__init__()
        self.result = result


class ProbeRoundFinished(Message):
    """Every probe of a refresh round has reported; the next round may be scheduled."""


class BackupsScanned(Message):
    """What the Backups panel shows: after the catalog pass (the probe findings pending or from an earlier
    round), and again when the probe pass has run."""

    def __init__(self, summary: BackupSummary) -> None:
        super().__init__()
        self.summary = summary


class NewestDrillFound(Message):
    """The newest drill's id (None: no drill yet), found off the UI thread."""

    def __init__(self, drill_id: str | None) -> None:
        super().__init__()
        self.drill_id = drill_id
