"""Verification reports of several ages and kinds on disk, written as `verify` writes them."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from console.catalog import KINDS
from console.verify import reports
from console.verify.model import CheckOutcome, SetVerification, VerifyReport


def write_run(settings: Any, started: datetime, kinds: tuple[str, ...]) -> str:
    """Write one verification run's .report and .json as `verify` does; return its name."""
    name = reports.free_report_name(settings, started)
    sets = tuple(
        SetVerification(f"{kind}/{started:%Y%m%d_%H%M%S}", kind, "", started.isoformat(timespec="seconds"), "passed",
                        (CheckOutcome("age", "passed", "Age OK", f"{kind}.file"),), ({"name": f"{kind}.file"},),
                        None, False, None, 0.1)
        for kind in kinds)
    report = VerifyReport(started.isoformat(timespec="seconds"), (started + timedelta(seconds=5)).isoformat(timespec="seconds"),
                          5.0, False, kinds, sets, name)
    reports.write_report(settings, report)
    return name


def files_of(settings: Any, name: str) -> list[Path]:
    directory = reports.report_dir(settings)
    return [directory / f"{name}.report", directory / f"{name}.json"]


def history(settings: Any, base: datetime) -> dict[str, str]:
    """Reports of several ages and kinds; the keys say what the plan must do with each."""
    ago = lambda days: base - timedelta(days=days)  # noqa: E731
    names = {
        "certs_only_200d": write_run(settings, ago(200), KINDS),           # the only one with certs: kept
        "old_150d": write_run(settings, ago(150), ("postgres", "redis")),  # superseded: removed
        "rabbitmq_120d": write_run(settings, ago(120), ("rabbitmq",)),    # the newest with rabbitmq: kept
        "old_100d": write_run(settings, ago(100), ("postgres", "redis", "config")),  # removed
        "config_30d": write_run(settings, ago(30), ("postgres", "config")),
        "young_10d": write_run(settings, ago(10), ("postgres",)),          # kept for its age only
        "newest_2d": write_run(settings, ago(2), ("postgres", "redis")),
    }
    names["old_150d_second"] = write_run(settings, ago(150), ("postgres",))  # same second: `_2`, removed
    directory = reports.report_dir(settings)
    unreadable = reports.report_name(ago(95))
    (directory / f"{unreadable}.json").write_text("{not json")
    names["unreadable_95d"] = unreadable
    orphan = reports.report_name(ago(300))
    (directory / f"{orphan}.report").write_text("Generated: long ago\n")
    names["orphan_text_300d"] = orphan
    (directory / "notes.txt").write_text("an operator's file")
    (directory / f"{reports.report_name(ago(400))}.txt").write_text("not a report name")
    return names


REMOVED = {"old_150d", "old_150d_second", "old_100d", "unreadable_95d", "orphan_text_300d"}
KEPT = {"certs_only_200d", "rabbitmq_120d", "config_30d", "young_10d", "newest_2d"}


def existing(settings: Any, names: dict[str, str]) -> set[str]:
    return {key for key, name in names.items() if any(path.exists() for path in files_of(settings, name))}
