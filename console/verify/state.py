"""The newest backup set of every target with its own verification state and its target's last run.

One use case for both faces: the dashboard's Backups panel and ``status`` (text and ``--json``)
show what this returns. A set's verification is its own (``verification_status`` and
``verification.time`` that verify writes into the set's metadata, else the newest report naming
its set id): a set made after the last verification is ``unverified``, whatever the kind's
earlier sets were.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Collection, Iterable

from console.catalog import KINDS, BackupSet, Catalog, read_metadata, read_metadata_unchanged, scan
from console.instances import DEFAULT, target_label
from console.kinds.layouts import LAYOUTS
from console.runlog import RunRecord, read_runs
from console.verify import reports
from console.verify.model import FAILED, PASSED, WARNING

if TYPE_CHECKING:
    from console.config import Settings

VERIFIED, UNVERIFIED = "verified", "unverified"
"""With WARNING ("warning") and FAILED ("failed"): the words a set's verification state takes."""
_STATE_OF_STATUS = {PASSED: VERIFIED, WARNING: WARNING, FAILED: FAILED}
REPORTS_READ = 50
"""Sets whose metadata carries no result (the manual's) are looked up in at most this many reports."""


@dataclass(frozen=True)
class TargetState:
    """One target (a database, or a kind with one target): its newest set and its last run."""

    kind: str
    name: str
    """The target's name: the database for PostgreSQL, else the kind."""
    set_id: str | None
    """The newest set, None when the target has never been backed up (only a failed run)."""
    timestamp: float | None
    path: str | None
    """The newest set's main file."""
    verification: str | None
    """verified, unverified, warning, failed (of the newest set itself); None without a set."""
    verified_at: str | None
    """When that set was last verified (ISO 8601), None when never."""
    report: str | None
    last_run: RunRecord | None
    """The target's own last backup run (cron or console), whatever its outcome."""
    instance: str = DEFAULT
    named: bool = False
    """Whether ``name`` is a target of its own (a database), not the kind standing for its one target:
    the manual's default database is called ``postgres``, like the kind."""

    @property
    def label(self) -> str:
        """``postgres/shop``, ``redis``, ``postgres/analytics/shop``, ``redis/cache``, ``postgres/postgres``."""
        return target_label(self.kind, self.instance, self.name if self.named or self.name != self.kind else "")

    def age_seconds(self, now: float) -> float | None:
        return None if self.timestamp is None else max(0.0, now - self.timestamp)

    def as_json(self, now: float) -> dict[str, Any]:
        run = self.last_run
        return {"kind": self.kind, "instance": self.instance, "name": self.name, "path": self.path, "set_id": self.set_id,
                "age_seconds": None if self.timestamp is None else round(max(0.0, now - self.timestamp)),
                "verification_status": self.verification, "verified_at": self.verified_at,
                "verification_report": self.report,
                "last_run": None if run is None else {
                    "status": run.status, "finished_at": datetime.fromtimestamp(run.finished).astimezone()
                    .isoformat(timespec="seconds"), "message": run.message, "set_id": run.set_id}}


def primary_file(backup_set: BackupSet) -> Path | None:
    """The set's main file by role priority (the custom dump before the .sql.gz), not by file order."""
    for role in LAYOUTS[backup_set.kind].primary_roles:
        item = backup_set.file(role)
        if item is not None:
            return item.path
    return None


def set_verification(backup_set: BackupSet, report_sets: dict[str, tuple[str, str, str]] | None = None,
                     document: dict[str, Any] | None = None) -> tuple[str, str | None, str | None]:
    """(state, verified_at, report) of one set, from its metadata (``document`` when the caller has read
    it already), else from ``report_sets`` (set id -> (status, finished_at, report name), newest report first)."""
    if document is None:
        document = read_metadata(backup_set).document or {}
    status = document.get("verification_status")
    if status in _STATE_OF_STATUS:
        verification = document.get("verification") if isinstance(document.get("verification"), dict) else {}
        return _STATE_OF_STATUS[status], verification.get("time"), verification.get("report")
    found = (report_sets or {}).get(backup_set.set_id)
    if found is not None and found[0] in _STATE_OF_STATUS:
        return _STATE_OF_STATUS[found[0]], found[1], found[2]
    return UNVERIFIED, None, None


def reported_sets(settings: Settings, limit: int = REPORTS_READ, wanted: Collection[str] | None = None
                  ) -> dict[str, tuple[str, str, str]]:
    """set id -> (status, finished_at, report) from the newest ``limit`` reports (the newest wins).

    With ``wanted``, only those set ids: a report whose bytes do not name one of them still missing is
    not parsed (a report over 10,000 sets is several MB; the dashboard asks for a handful of ids on
    every refresh), the reading stops once every one is found, and what each report said of them is
    kept in this process for as long as the file is unchanged.
    """
    found: dict[str, tuple[str, str, str]] = {}
    missing = None if wanted is None else set(wanted)
    paths = reports.report_paths(settings)[:limit]
    for path in paths:
        if missing is not None and not missing:
            break
        try:
            if missing is None:
                raw = path.read_bytes()
            else:
                answers = _answers_of(path, missing)
                for set_id in [set_id for set_id in missing if answers.get(set_id) is not None]:
                    found[set_id] = answers[set_id]  # type: ignore[assignment]
                    missing.discard(set_id)
                continue
            _add_sets(found, json.loads(raw), path)
        except (OSError, ValueError, TypeError, AttributeError):
            continue
    return found


def _add_sets(found: dict[str, tuple[str, str, str]], document: Any, path: Path) -> None:
    finished = str(document.get("finished_at", ""))
    name = str(document.get("report") or path.stem)
    for item in document.get("sets") or []:
        found.setdefault(str(item.get("set_id", "")), (str(item.get("status", "")), finished, name))


_ANSWERS: dict[Path, tuple[tuple[int, int, int], dict[str, tuple[str, str, str] | None]]] = {}
"""path -> (its (inode, size, mtime), what it says of each set id asked so far: None when nothing)."""


def _answers_of(path: Path, set_ids: set[str]) -> dict[str, tuple[str, str, str] | None]:
    """What the report at ``path`` says of each of ``set_ids``; OSError/ValueError when it is unreadable."""
    info = os.stat(path)
    signature = (info.st_ino, info.st_size, info.st_mtime_ns)
    cached = _ANSWERS.get(path)
    answers = cached[1] if cached is not None and cached[0] == signature else {}
    asked = [set_id for set_id in set_ids if set_id not in answers]
    if asked:
        raw = path.read_bytes()
        named = [set_id for set_id in asked if json.dumps(set_id).encode() in raw]  # as the writer quotes it
        for set_id in asked:
            answers[set_id] = None
        if named:
            found: dict[str, tuple[str, str, str]] = {}
            quick = reports.named_entries(raw, named)
            if quick is None:
                _add_sets(found, json.loads(raw), path)
            else:
                _add_sets(found, {**quick[0], "sets": list(quick[1].values())}, path)
            for set_id in named:
                answers[set_id] = found.get(set_id)
        if len(_ANSWERS) > 4 * REPORTS_READ:
            _ANSWERS.clear()
        _ANSWERS[path] = (signature, answers)
    return answers


def last_runs_by_target(backup_dir: Path, runs: list[RunRecord] | None = None) -> dict[tuple[str, str, str], RunRecord]:
    """(kind, instance, target) -> that target's last backup run (from ``runs`` when the caller has read
    the run log already); a kind with one target has target its kind."""
    latest: dict[tuple[str, str, str], RunRecord] = {}
    for record in read_runs(backup_dir) if runs is None else runs:
        if record.action == "backup":
            latest[(record.kind, record.instance, record.target or record.kind)] = record
    return latest


def target_states(settings: Settings, catalog: Catalog | None = None,
                  runs: list[RunRecord] | None = None) -> list[TargetState]:
    """Every target with a set or a run: the newest set of each (own verification) and its last run,
    in kind order; a kind with neither is absent (the faces say "never"). ``catalog`` and ``runs`` (the
    run log's records): what the caller has read already, else they are read here."""
    catalog = scan(settings.backup_dir) if catalog is None else catalog
    runs_of = last_runs_by_target(settings.backup_dir, runs)
    newest = catalog.latest_per_target()
    documents = [read_metadata_unchanged(backup_set).document or {} for backup_set in newest]
    # Sets whose metadata carries no result (the manual's) are looked up in the reports: only those ids.
    unstated = [backup_set.set_id for backup_set, document in zip(newest, documents)
                if document.get("verification_status") not in _STATE_OF_STATUS]
    legacy_reports = reported_sets(settings, wanted=unstated) if unstated else None
    states: list[TargetState] = []
    seen: set[tuple[str, str, str]] = set()
    for backup_set, document in zip(newest, documents):
        name = backup_set.name or backup_set.kind
        verification, verified_at, report = set_verification(backup_set, legacy_reports, document)
        path = primary_file(backup_set)
        key = (backup_set.kind, backup_set.instance, name)
        states.append(TargetState(backup_set.kind, name, backup_set.set_id, backup_set.timestamp.timestamp(),
                                  str(path) if path else None, verification, verified_at, report,
                                  runs_of.get(key), backup_set.instance, named=bool(backup_set.name)))
        seen.add(key)
    for (kind, instance, name), run in runs_of.items():
        if (kind, instance, name) not in seen and kind in KINDS:
            states.append(TargetState(kind, name, None, None, None, None, None, None, run, instance,
                                      named=bool(run.target)))
    return sorted(states, key=lambda state: (KINDS.index(state.kind), state.instance != DEFAULT, state.instance,
                                             state.name))


def configured_targets(settings: Settings, kinds: Iterable[str] = KINDS,
                       scheduled_only: bool = False) -> list[tuple[str, str, str]]:
    """(kind, instance, name) of every target the configuration names: each database of each postgres
    instance, each instance once for the other kinds (name ""); with ``scheduled_only``, only the
    instances the schedule runs."""
    targets = []
    for kind in kinds:
        if kind not in KINDS:
            continue
        for instance in settings.instances_of(kind):
            if scheduled_only and not instance.scheduled:
                continue
            if kind == "postgres":
                databases = list(instance.section.databases) or [instance.section.database]
                targets.extend(("postgres", instance.name, name) for name in databases)
            else:
                targets.append((kind, instance.name, ""))
    return targets


def never_backed_up(states: list[TargetState], configured: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The configured targets (``configured_targets``) without a set or a run among ``states``."""
    known = {(state.kind, state.instance, state.name) for state in states}
    return [(kind, instance, name) for kind, instance, name in configured if (kind, instance, name or kind) not in known]
