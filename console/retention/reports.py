"""Retention of verification reports: every `verify` run leaves a ``.report``/``.json`` pair in
BACKUP_DIR/reports, so ``retention apply`` removes the pairs older than ``retention.report_days``.

Some reports are kept whatever their age, because something still reads them: the newest
report (the Reports screen's LAST line, ``reports show latest``) and, per kind, the newest
report holding results for that kind (where ``console.verify.state`` finds the verification of
a set whose metadata carries none, such as the manual's). A report's two files go together. Only files named the way
``console.verify.reports`` names them are considered; anything else in the directory is left alone.

``plan_reports`` only reads; console/prune.py deletes what it removes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from console import jsondoc
from console.catalog import KINDS
from console.layout import parse_stamp
from console.retention.plan import Decision
from console.retention.policy import days_label
from console.verify.reports import REPORT_FILE, report_dir

if TYPE_CHECKING:
    from console.config import Settings

KIND = "reports"


@dataclass(frozen=True)
class StoredReport:
    """One verification run's files on disk (one of the two may be missing)."""

    name: str
    """``backup_verification_<ts>[_N]``."""
    stamp: str
    """``<ts>`` or, for a second run in the same second, ``<ts>_2``."""
    timestamp: datetime
    paths: tuple[Path, ...]
    """The ``.report`` before the ``.json``: deleted in this order, an interrupted run leaves the
    JSON, which the report browser still lists and the next run removes."""
    size_bytes: int

    @property
    def set_id(self) -> str:
        return f"{KIND}/{self.stamp}"

    @property
    def json_path(self) -> Path | None:
        return next((path for path in self.paths if path.suffix == ".json"), None)


@dataclass(frozen=True)
class ReportPlan:
    directory: str
    days: int
    now: datetime
    keep: tuple[Decision, ...]
    remove: tuple[Decision, ...]

    @property
    def freed_bytes(self) -> int:
        return sum(item.size_bytes for item in self.remove)

    @property
    def next_expiry(self) -> datetime | None:
        """When the next report kept only for its age passes ``days`` (protected ones stay)."""
        upcoming = sorted(item.subject.timestamp + timedelta(days=self.days) for item in self.keep
                          if item.reasons == (f"within {days_label(self.days)}",))
        return upcoming[0] if upcoming else None

    def as_json(self) -> dict[str, Any]:
        return {"directory": self.directory, "days": self.days, "now": self.now.isoformat(timespec="seconds"),
                "keep": [item.as_json() for item in self.keep], "remove": [item.as_json() for item in self.remove],
                "freed_bytes": self.freed_bytes}


def stored_reports(directory: Path) -> list[StoredReport]:
    """The reports in ``directory``, newest first (the order ``reports.report_paths`` reads them)."""
    if not directory.is_dir():
        return []
    found: dict[str, list[Path]] = {}
    for entry in os.scandir(directory):
        match = REPORT_FILE.match(entry.name)
        if match and entry.is_file(follow_symlinks=False):
            stamp = match["stamp"] + (f"_{match['number']}" if match["number"] else "")
            found.setdefault(stamp, []).append(Path(entry.path))
    result = []
    for stamp, paths in found.items():
        ordered = tuple(sorted(paths, key=lambda path: path.suffix == ".json"))
        result.append(StoredReport(ordered[0].name.rsplit(".", 1)[0], stamp, parse_stamp(stamp[:15]), ordered,
                                   sum(_size(path) for path in ordered)))
    return sorted(result, key=_order, reverse=True)


def kinds_with_results(report: StoredReport) -> frozenset[str] | None:
    """The kinds the report has set results for; None when its JSON is missing or unreadable."""
    path = report.json_path
    if path is None:
        return None
    try:
        document = jsondoc.loads(path.read_text(encoding="utf-8"))
        return frozenset(str(item["kind"]) for item in document["sets"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def plan_reports(settings: Settings, now: datetime) -> ReportPlan:
    directory = report_dir(settings)
    return decide(stored_reports(directory), settings.retention.report_days, now, str(directory))


def decide(reports: Iterable[StoredReport], days: int, now: datetime, directory: str = "",
           read_kinds: Callable[[StoredReport], frozenset[str] | None] = kinds_with_results) -> ReportPlan:
    """Keep what is younger than ``days`` and what is still read; remove the rest.

    Reports are read newest first only until the newest and the newest per kind are found
    (usually a handful; all of them only while some kind has never been verified).
    """
    newest_first = sorted(reports, key=_order, reverse=True)
    protected: dict[str, list[str]] = {}
    wanted = set(KINDS)
    newest_found = False
    for report in newest_first:
        if newest_found and not wanted:
            break
        kinds = read_kinds(report)
        if kinds is None:
            continue  # the browser and the dashboard skip it too
        reasons = protected.setdefault(report.set_id, [])
        if not newest_found:
            newest_found = True
            reasons.append("newest report")
        covered = [kind for kind in KINDS if kind in wanted and kind in kinds]
        if covered:
            reasons.append(f"newest for {', '.join(covered)}")
            wanted.difference_update(covered)
    keep: list[Decision] = []
    remove: list[Decision] = []
    for report in newest_first:
        age = max(0.0, (now - report.timestamp).total_seconds() / 86400.0)
        reasons = list(protected.get(report.set_id, ()))
        if age <= days:
            reasons.append(f"within {days_label(days)}")
        if reasons:
            keep.append(_decision(report, age, reasons))
        else:
            remove.append(_decision(report, age, [f"age {age:.1f} d > {days_label(days)}"],
                                    rule=f"reports {days_label(days)}"))
    return ReportPlan(directory, days, now, tuple(keep), tuple(remove))


def _decision(report: StoredReport, age: float, reasons: list[str], rule: str | None = None) -> Decision:
    return Decision(report.set_id, KIND, report.name, report.stamp[:15], age, report.size_bytes,
                    tuple(path.name for path in report.paths), tuple(reasons), rule, report)


def _order(report: StoredReport) -> tuple[str, int]:
    return report.stamp[:15], int(report.stamp[16:] or 1)


def _size(path: Path) -> int:
    try:
        return path.lstat().st_size
    except OSError:
        return 0
