"""The one freshness rule: a nightly kind's newest backup is fresh while it is younger than
``alerts.stale_hours``. verify's age check, monitor's freshness finding and alert, and the
dashboard all ask here, so they can never disagree about the same set."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from console.config import Settings


def stale_after_hours(settings: Settings) -> int:
    return settings.alerts.stale_hours


def is_fresh(settings: Settings, age_seconds: float) -> bool:
    return age_seconds < stale_after_hours(settings) * 3600
