"""Verification reports: the JSON document and the manual's text format, written, listed, loaded.

Each run writes ``BACKUP_DIR/reports/backup_verification_<ts>.report`` (the layout of the
manual's ``backup-verify.sh``: a section per service, "Checking: <file>", one ✓/✗/⚠ line per
check, the summary counts and the final Status line) and ``backup_verification_<ts>.json``
(the same run with every detail; the report browser and ``console.verify.state`` read it).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from console import jsondoc
from console.artifacts import write_json_atomic, write_text_atomic
from console.errors import UsageError
from console.layout import TIMESTAMP_FORMAT
from console.verify.model import FAILED, PASSED, SKIPPED, WARNING, CheckOutcome, SetVerification, VerifyReport

if TYPE_CHECKING:
    from console.config import Settings

PREFIX = "backup_verification_"
REPORT_FILE = re.compile(rf"^{PREFIX}(?P<stamp>\d{{8}}_\d{{6}})(?:_(?P<number>\d+))?\.(?P<suffix>json|report)$")
"""The names ``write_report`` gives (``free_report_name`` adds ``_2``, ``_3`` ...); retention touches no other file."""
SECTIONS: tuple[tuple[str, str], ...] = (
    ("postgres", "PostgreSQL Backups"),
    ("redis", "Redis Backups"),
    ("rabbitmq", "RabbitMQ Backups"),
    ("config", "Config Backups"),
    ("certs", "Certificate Backups"),
)
SYMBOLS = {PASSED: "✓", FAILED: "✗", WARNING: "⚠", SKIPPED: "-"}
STATUS_OK = "Status: ✓ ALL BACKUPS VERIFIED SUCCESSFULLY"
STATUS_FAILED = "Status: ✗ BACKUP VERIFICATION FAILED"


def report_dir(settings: Settings) -> Path:
    return settings.root.reports


def report_name(when: datetime) -> str:
    return PREFIX + when.strftime(TIMESTAMP_FORMAT)


def free_report_name(settings: Settings, when: datetime) -> str:
    """A report name not used yet (two runs in one second get ``_2``, ``_3`` ...)."""
    base = report_name(when)
    directory = report_dir(settings)
    name, number = base, 1
    while (directory / f"{name}.json").exists() or (directory / f"{name}.report").exists():
        number += 1
        name = f"{base}_{number}"
    return name


# --- rendering ---------------------------------------------------------------------------------


def grouped_by_file(item: SetVerification) -> list[tuple[str, list[CheckOutcome]]]:
    """A set's checks grouped under the file they concern, in the set's file order."""
    order = [str(entry.get("name")) for entry in item.files]
    groups: dict[str, list[CheckOutcome]] = {}
    for outcome in item.checks:
        groups.setdefault(outcome.file or item.set_id, []).append(outcome)
    names = [name for name in order if name in groups] + [name for name in groups if name not in order]
    return [(name, groups[name]) for name in names]


def render_text(report: VerifyReport) -> str:
    """The manual's report layout, with Config and Certificate sections after RabbitMQ."""
    lines = [f"Generated: {report.finished_at}", ""]
    titles = dict(SECTIONS)
    for index, kind in enumerate(kind for kind, _ in SECTIONS if kind in report.kinds):
        if index:
            lines.append("")
        lines.append(f"=== {titles[kind]} ===")
        for item in (entry for entry in report.sets if entry.kind == kind):
            for file_name, outcomes in grouped_by_file(item):
                lines.append(f"Checking: {file_name}")
                lines.extend(f"  {SYMBOLS.get(outcome.status, '?')} {outcome.message}" for outcome in outcomes)
    counts = report.counts
    lines += ["", "=== SUMMARY ===", f"Passed Checks: {counts[PASSED]}", f"Failed Checks: {counts[FAILED]}",
              f"Warnings: {counts[WARNING]}", STATUS_OK if report.ok else STATUS_FAILED]
    return "\n".join(lines) + "\n"


# --- files -------------------------------------------------------------------------------------


def write_report(settings: Settings, report: VerifyReport) -> tuple[Path, Path]:
    """Write the .report and .json files atomically; return their paths."""
    directory = report_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    text_path = directory / f"{report.report_name}.report"
    json_path = directory / f"{report.report_name}.json"
    write_text_atomic(text_path, render_text(report), mode=0o644)
    write_json_atomic(json_path, report.as_json(), mode=0o644)
    return text_path, json_path


@dataclass(frozen=True)
class ReportSummary:
    """One report as the browser lists it."""

    name: str
    json_path: Path
    text_path: Path
    started_at: str
    finished_at: str
    status: str
    deep: bool
    sets: int
    sets_failed: int
    passed: int
    failed: int
    warnings: int
    duration_seconds: float

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "json_path": str(self.json_path), "text_path": str(self.text_path),
                "started_at": self.started_at, "finished_at": self.finished_at, "status": self.status,
                "deep": self.deep, "sets": self.sets, "sets_failed": self.sets_failed, "passed": self.passed,
                "failed": self.failed, "warnings": self.warnings, "duration_seconds": self.duration_seconds}


def report_paths(settings: Settings) -> list[Path]:
    """The JSON reports, newest first (their names carry the start time)."""
    directory = report_dir(settings)
    if not directory.is_dir():
        return []
    return sorted(directory.glob(f"{PREFIX}*.json"), key=lambda path: path.name, reverse=True)


_SETS_KEY = b'"sets": ['
"""Where a report's list of sets begins: ``as_json`` puts it last, after every field the list needs."""
_HEADS: dict[Path, tuple[tuple[int, int, int], dict[str, Any]]] = {}
"""path -> (its (inode, size, mtime), its fields but ``sets``): the Reports screen reloads the same files."""


_CLOSED_BY_SETS = re.compile(rb"\]\s*\}\s*$")
"""A whole report ends by closing its list of sets, then itself."""


def named_entries(raw: bytes, set_ids: Iterable[str]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]] | None:
    """A report's fields but ``sets`` and the first entry of each of ``set_ids`` in its list (the caller
    asks only for ids the bytes contain), each entry parsed alone: looking up a few sets in a report over 10,000 sets then costs a
    search of its bytes, not a parse of several MB.

    None when the file is not laid out as the writer lays it out (the list last and the file whole,
    each entry an object whose first field is its ``set_id``); then the caller parses it whole, which
    also skips a damaged file as before.
    """
    at = raw.find(_SETS_KEY)
    if at <= 0 or not _CLOSED_BY_SETS.search(raw[-64:]):
        return None
    try:
        head = jsondoc.loads(raw[:at].rstrip().rstrip(b",") + b"}")
        text = raw.decode()
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(head, dict):
        return None
    start = text.find(_SETS_KEY.decode()) + len(_SETS_KEY)
    decoder = json.JSONDecoder()
    entries: dict[str, dict[str, Any]] = {}
    for set_id in set_ids:
        found = text.find(f'"set_id": {json.dumps(set_id)}', start)
        if found < 0:
            return None  # named elsewhere, or written another way: only a whole parse can tell
        brace = text.rfind("{", start, found)
        if brace < 0 or text[brace + 1:found].strip():
            return None  # not an entry's first field
        try:
            entry, _ = decoder.raw_decode(text, brace)
        except ValueError:
            return None
        if not isinstance(entry, dict) or entry.get("set_id") != set_id or not {"status", "checks"} <= entry.keys():
            return None
        entries[set_id] = entry
    return head, entries


def report_head(path: Path) -> dict[str, Any]:
    """A report's fields without its list of sets (what the report list shows).

    A report over 10,000 sets is several MB; the list needs its first few hundred bytes. The fields
    before ``"sets": [`` are parsed with the object closed after them; a report that does not end
    its object (a truncated file), or whose head does not parse, is parsed whole, as before, so a
    damaged file is still skipped. Raises OSError or ValueError like ``jsondoc.loads``.
    """
    info = os.stat(path)
    signature = (info.st_ino, info.st_size, info.st_mtime_ns)
    cached = _HEADS.get(path)
    if cached is not None and cached[0] == signature:
        return cached[1]
    with open(path, "rb") as handle:
        raw = handle.read()
    head = None
    at = raw.find(_SETS_KEY)
    if at > 0 and raw.rstrip().endswith(b"}"):
        try:
            head = jsondoc.loads(raw[:at].rstrip().rstrip(b",") + b"}")
        except ValueError:
            head = None
    if not isinstance(head, dict) or "summary" not in head:
        head = jsondoc.loads(raw)
        if isinstance(head, dict):
            head = {key: value for key, value in head.items() if key != "sets"}
    if isinstance(head, dict):
        _HEADS[path] = (signature, head)
    return head


def list_reports(settings: Settings) -> list[ReportSummary]:
    """Every readable JSON report, newest first (unreadable files are skipped)."""
    summaries = []
    paths = report_paths(settings)
    for gone in set(_HEADS) - set(paths):
        _HEADS.pop(gone, None)
    for path in paths:
        try:
            data = report_head(path)
            summary = data["summary"]
            summaries.append(ReportSummary(
                str(data.get("report") or path.stem), path, path.with_suffix(".report"), str(data.get("started_at", "")),
                str(data.get("finished_at", "")), str(data.get("status", "")), bool(data.get("deep")),
                int(summary.get("sets", 0)), int(summary.get("sets_failed", 0)), int(summary.get("passed", 0)),
                int(summary.get("failed", 0)), int(summary.get("warnings", 0)),
                float(data.get("duration_seconds") or 0.0)))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
    return sorted(summaries, key=lambda item: (item.started_at, item.name), reverse=True)


def load_report(settings: Settings, reference: str = "latest") -> VerifyReport:
    """A report by name (with or without extension), by path, or "latest"."""
    if reference == "latest":
        found = list_reports(settings)
        if not found:
            raise UsageError(f"no verification reports under {report_dir(settings)}", hint="run `backup-console verify`")
        path = found[0].json_path
    else:
        candidate = Path(reference).expanduser()
        stem = candidate.name.removesuffix(".json").removesuffix(".report")
        path = (candidate.parent if candidate.parent != Path(".") else report_dir(settings)) / f"{stem}.json"
        if not path.is_file():
            path = report_dir(settings) / f"{stem}.json"
    try:
        data = jsondoc.loads(path.read_text(encoding="utf-8"))
    except OSError:
        raise UsageError(f"no verification report '{reference}' in {report_dir(settings)}",
                         hint="`backup-console reports list` shows them") from None
    except ValueError as exc:
        raise UsageError(f"report {path} is not valid JSON ({exc})") from None
    return VerifyReport.from_json(data)


def read_text(settings: Settings, report: VerifyReport) -> str:
    """The .report file of a run, or the text rendered again when the file is gone."""
    path = report_dir(settings) / f"{report.report_name}.report"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return render_text(report)
