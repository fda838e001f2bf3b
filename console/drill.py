"""Incident drills: a stamped record of every step, kept on disk as JSON and a Markdown transcript.

Both files (``BACKUP_DIR/drills/drill_<ts>.json`` and ``.md``) are rewritten atomically after every
step, and the transcript calls the drill incomplete until it is ended. A drill cut short (terminal
closed, Ctrl-C, SIGTERM, SIGHUP, a crash, even SIGKILL) therefore still leaves a readable transcript
saying so; ``interrupt_guard`` also stamps the reason when a signal ends the process.
"""

from __future__ import annotations

import atexit
import datetime as dt
import getpass
import os
import signal
import socket
import time
import weakref
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from console import jsondoc
from console.artifacts import write_json_atomic, write_text_atomic
from console.errors import UsageError
from console.layout import new_stamp
from console.root import BackupRoot
from console.status import Status

FORMAT_VERSION = 1
OUTCOMES = tuple(status.outcome for status in (Status.OK, Status.WARN, Status.FAIL, Status.OVERRIDE, Status.SKIP,
                                                Status.CANCELLED))
"""A step's outcome as the transcript writes it: ok, warn, fail, override, skipped, cancelled."""


def outcome_of(state: str | Status) -> str:
    """The transcript's outcome for any state word the engine reports (a check's ``warn``, a backup's
    ``failed``, a verification's ``passed`` ...); anything unknown is a failure, never a pass."""
    outcome = Status.of(state).outcome
    return outcome if outcome in OUTCOMES else Status.FAIL.outcome  # running, pending: never ended


_OPEN_DRILLS: weakref.WeakSet[Drill] = weakref.WeakSet()
"""Drills not yet ended in this process: stamped incomplete if the process exits first."""


@dataclass
class DrillStep:
    """One stamped step: a check run, a manual tick, a gate override, a backup, a verification."""

    name: str
    kind: str
    """check, manual, override, backup, verify or note."""
    who: str
    started: float
    ended: float | None = None
    outcome: str | None = None
    evidence: str = ""
    notes: list[str] = field(default_factory=list)
    item: str | None = None
    """``<service>.<item id>`` for checklist steps."""

    @property
    def duration_seconds(self) -> float | None:
        return None if self.ended is None else max(0.0, self.ended - self.started)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "duration_seconds": self.duration_seconds}


@dataclass
class DrillNote:
    at: float
    who: str
    text: str
    item: str | None = None


class Drill:
    """A running drill; every change is saved at once (atomically) to its JSON and Markdown files."""

    def __init__(self, backup_dir: Path, name: str, participants: list[str] | None = None,
                 services: list[str] | None = None, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.started = clock()
        self.id = "drill_" + new_stamp(dt.datetime.fromtimestamp(self.started))
        self.directory = BackupRoot(backup_dir).drills
        self.json_path = _unique(self.directory / f"{self.id}.json")
        self.id = self.json_path.stem
        self.markdown_path = self.json_path.with_suffix(".md")
        self.name = name.strip() or "drill"
        self.participants = [who.strip() for who in participants or [] if who.strip()] or [default_participant()]
        self.services = list(services or [])
        self.steps: list[DrillStep] = []
        self.notes: list[DrillNote] = []
        self.ended: float | None = None
        self.status = "in_progress"
        self.interrupted_by: str | None = None
        self.pid = os.getpid()
        self.save()
        _OPEN_DRILLS.add(self)

    @property
    def driver(self) -> str:
        """Who acts by default: the first participant (or $USER)."""
        return self.participants[0]

    def who(self, name: str | None) -> str:
        if name is None:
            return self.driver
        if name not in self.participants:
            raise UsageError(f"'{name}' is not a participant of this drill ({', '.join(self.participants)})")
        return name

    def start_step(self, name: str, kind: str, who: str | None = None, item: str | None = None,
                   started: float | None = None) -> DrillStep:
        step = DrillStep(name, kind, self.who(who), self.clock() if started is None else started, item=item)
        self.steps.append(step)
        self.save()
        return step

    def end_step(self, step: DrillStep, outcome: str, evidence: str = "", ended: float | None = None) -> DrillStep:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        step.ended = self.clock() if ended is None else max(ended, step.started)
        step.outcome = outcome
        step.evidence = evidence
        self.save()
        return step

    def record(self, name: str, kind: str, outcome: str, evidence: str = "", who: str | None = None,
               item: str | None = None, started: float | None = None, ended: float | None = None) -> DrillStep:
        """A step that has already happened (a check result, a tick): started defaults to the last step's end."""
        now = self.clock() if ended is None else ended
        if started is None:
            started = max([self.started, *(s.ended for s in self.steps if s.ended is not None)])
        step = DrillStep(name, kind, self.who(who), min(started, now), item=item)
        self.steps.append(step)
        return self.end_step(step, outcome, evidence, ended=now)

    def add_note(self, text: str, who: str | None = None, item: str | None = None) -> DrillNote:
        """A note on the drill, or on the newest step of ``item`` when given."""
        note = DrillNote(self.clock(), self.who(who), text.strip(), item)
        self.notes.append(note)
        if item is not None:
            for step in reversed(self.steps):
                if step.item == item:
                    step.notes.append(note.text)
                    break
        self.save()
        return note

    def finish(self) -> None:
        """End the drill normally: the transcript is complete."""
        if self.ended is None:
            self.ended = self.clock()
            self.status = "completed"
            self.save()
        _OPEN_DRILLS.discard(self)

    def interrupt(self, reason: str) -> None:
        """End the drill early (signal, closed terminal, crash): the transcript says it is incomplete."""
        if self.ended is None:
            self.ended = self.clock()
            self.status = "incomplete"
            self.interrupted_by = reason
            for step in self.steps:
                if step.ended is None:
                    step.ended, step.outcome, step.evidence = self.ended, "cancelled", f"interrupted ({reason})"
            self.save()
        _OPEN_DRILLS.discard(self)

    @property
    def result(self) -> str:
        return drill_result(self.as_json())

    def as_json(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "id": self.id,
            "name": self.name,
            "participants": self.participants,
            "services": self.services,
            "started": self.started,
            "started_at": _iso(self.started),
            "ended": self.ended,
            "ended_at": None if self.ended is None else _iso(self.ended),
            "duration_seconds": None if self.ended is None else round(self.ended - self.started, 3),
            "status": self.status,
            "interrupted_by": self.interrupted_by,
            "pid": self.pid,
            "host": socket.gethostname(),
            "steps": [step.as_json() for step in self.steps],
            "notes": [asdict(note) for note in self.notes],
        }

    def save(self) -> None:
        document = self.as_json()
        write_json_atomic(self.json_path, document, mode=0o644)
        write_text_atomic(self.markdown_path, render_markdown(document), mode=0o644)


def default_participant() -> str:
    return os.environ.get("USER") or os.environ.get("LOGNAME") or _login_name()


def _login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers): still a drill
        return "operator"


def _unique(path: Path) -> Path:
    """drill_<ts>.json, or drill_<ts>_2.json when two drills start in the same second."""
    candidate, counter = path, 2
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}_{counter}{path.suffix}")
        counter += 1
    return candidate


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds")


def clock_time(timestamp: float | None) -> str:
    return "-" if timestamp is None else dt.datetime.fromtimestamp(timestamp).strftime("%H:%M:%S")


# --- reading back ----------------------------------------------------------------------------


def drill_result(document: dict[str, Any]) -> str:
    """running (its process still runs here), incomplete (not ended), failed (a step failed), ok."""
    if document.get("status") == "in_progress" and _alive_here(document):
        return "running"
    if document.get("status") != "completed":
        return "incomplete"
    if any(step.get("outcome") in ("fail", "cancelled") for step in document.get("steps", [])):
        return "failed"
    return "ok"


def _alive_here(document: dict[str, Any]) -> bool:
    if document.get("host") != socket.gethostname() or not isinstance(document.get("pid"), int):
        return False
    try:
        os.kill(document["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def render_markdown(document: dict[str, Any], steps_as_list: bool = False) -> str:
    """The transcript: a summary line, the steps table, the notes and what failed.

    ``steps_as_list`` writes each step as a list item instead of a table row: an eight-column
    table squeezed into an 80-column terminal cuts every cell to a few characters.
    """
    steps = document.get("steps", [])
    result = drill_result(document)
    failed = [step for step in steps if step.get("outcome") in ("fail", "cancelled")]
    overrides = [step for step in steps if step.get("outcome") == "override"]
    if document.get("ended") is None:
        duration = "not ended"
    else:
        duration = duration_text(document.get("duration_seconds"))
    status = {"ok": "OK", "failed": "FAILED", "incomplete": "INCOMPLETE", "running": "INCOMPLETE"}[result]
    lines = [
        f"# Drill: {document.get('name', '')}",
        "",
        f"**{status}** · started {document.get('started_at', '?')} · duration {duration} · "
        f"{len(steps)} steps, {len(failed)} failed, {len(overrides)} override(s) · "
        f"participants: {', '.join(document.get('participants', []))}",
        "",
    ]
    if result in ("incomplete", "running"):
        reason = document.get("interrupted_by")
        lines += [("> **Incomplete:** the drill was interrupted (" + reason + ") before it was ended.") if reason
                  else "> **Incomplete:** the drill has not been ended (still running, or the terminal was lost).", ""]
    if document.get("services"):
        lines += [f"Services: {', '.join(document['services'])}", ""]
    lines += ["## Steps", ""]
    if steps_as_list:
        for number, step in enumerate(steps, 1):
            evidence = step.get("evidence", "") + "".join(f" (note: {note})" for note in step.get("notes", []))
            lines.append(f"{number}. **{(step.get('outcome') or 'running').upper()}** {step.get('name', '')} · "
                         f"{step.get('who', '')} · {clock_time(step.get('started'))}-{clock_time(step.get('ended'))} "
                         f"({duration_text(step.get('duration_seconds'))})" + (f"  \n   {evidence}" if evidence else ""))
    else:
        lines += ["| # | step | who | start | end | duration | outcome | evidence |", "|---|---|---|---|---|---|---|---|"]
    for number, step in enumerate([] if steps_as_list else steps, 1):
        lines.append("| " + " | ".join([
            str(number), _cell(step.get("name", "")), _cell(step.get("who", "")), clock_time(step.get("started")),
            clock_time(step.get("ended")), duration_text(step.get("duration_seconds")),
            (step.get("outcome") or "running").upper(),
            _cell(step.get("evidence", "") + "".join(f" (note: {note})" for note in step.get("notes", []))),
        ]) + " |")
    lines += ["", "## Notes", ""]
    notes = document.get("notes", [])
    lines += [f"- {clock_time(note.get('at'))} {note.get('who')}"
              + (f" on {note['item']}" if note.get("item") else "") + f": {note.get('text')}" for note in notes] or ["None."]
    lines += ["", "## What failed", ""]
    lines += [f"- {step.get('name')}: {step.get('evidence') or step.get('outcome')}" for step in failed] or ["Nothing."]
    if overrides:
        lines += ["", "## Overrides", ""]
        lines += [f"- {clock_time(step.get('ended'))} {step.get('who')}: {step.get('evidence')}" for step in overrides]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


@dataclass(frozen=True)
class DrillSummary:
    id: str
    name: str
    started: float
    duration_seconds: float | None
    result: str
    path: Path

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "started_at": _iso(self.started),
                "duration_seconds": self.duration_seconds, "result": self.result, "path": str(self.path)}


def list_drills(backup_dir: Path) -> list[DrillSummary]:
    """Past drills, newest first; unreadable files are skipped."""
    summaries = []
    for path in BackupRoot(backup_dir).drills.glob("drill_*.json"):
        try:
            document = jsondoc.loads(path.read_text(encoding="utf-8"))
            summaries.append(DrillSummary(path.stem, str(document["name"]), float(document["started"]),
                                          document.get("duration_seconds"), drill_result(document), path))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return sorted(summaries, key=lambda summary: (summary.started, summary.id), reverse=True)


def read_drill(backup_dir: Path, reference: str) -> dict[str, Any]:
    """One drill's document by id (``drill_20261125_010203``), its timestamp, or ``latest``.

    Raises:
        UsageError: no such drill.
    """
    drills = list_drills(backup_dir)
    if reference == "latest" and drills:
        chosen = drills[0]
    else:
        wanted = reference if reference.startswith("drill_") else f"drill_{reference}"
        wanted = Path(wanted).stem
        chosen = next((summary for summary in drills if summary.id == wanted), None)  # type: ignore[assignment]
    if chosen is None:
        known = ", ".join(summary.id for summary in drills[:5]) or "none yet"
        raise UsageError(f"no drill '{reference}' under {BackupRoot(backup_dir).drills}", hint=f"recent drills: {known}")
    return jsondoc.loads(chosen.path.read_text(encoding="utf-8"))


# --- interruption ----------------------------------------------------------------------------


def interrupt_open_drills(reason: str) -> int:
    """Stamp every drill of this process that was not ended as incomplete; returns how many."""
    drills = list(_OPEN_DRILLS)
    for drill in drills:
        drill.interrupt(reason)
    return len(drills)


atexit.register(interrupt_open_drills, "the program exited before the drill was ended")


@contextmanager
def signals_end_drills(on_signal: Callable[[int], None] | None = None) -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP (terminal closed) stamp every open drill incomplete, then
    call ``on_signal(signum)`` (e.g. the app's exit) or, without one, raise KeyboardInterrupt.

    Outside the main thread signals cannot be caught; the block then does nothing.
    """

    def handler(signum: int, frame: object) -> None:
        interrupt_open_drills(signal.Signals(signum).name)
        if on_signal is not None:
            on_signal(signum)
        else:
            raise KeyboardInterrupt

    previous = {}
    for signum in (signal.SIGTERM, signal.SIGHUP):
        try:
            previous[signum] = signal.signal(signum, handler)
        except ValueError:
            pass
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@contextmanager
def interrupt_guard(drill: Drill, on_signal: Callable[[int], None] | None = None) -> Iterator[Drill]:
    """Mark the drill incomplete if the block ends without ``drill.finish()`` (signal, Ctrl-C, error)."""
    with signals_end_drills(on_signal):
        try:
            yield drill
        except KeyboardInterrupt:
            drill.interrupt("interrupted (Ctrl-C)")
            raise
        except BaseException as exc:
            drill.interrupt(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            raise
        finally:
            drill.interrupt("closed before the drill was ended")
