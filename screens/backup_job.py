"""BackupJob: one backup running in an app-level thread worker, observed by any backup screen.

The worker only records what the engine reports (phases, byte counts, log lines, the result)
into this plain object; the screen reads it on a 10 Hz timer and is the only one touching
widgets. Because the job belongs to the app, not to a screen, leaving the backup screen does
not stop the backup, and opening it again shows the same run.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from console.errors import ConsoleError
from console.progress import CancelToken, ProgressCallback, ProgressEvent

if TYPE_CHECKING:
    from textual.app import App

    from console.config import Settings
    from console.kinds.base import BackupRequest, BackupResult
    from console.preflight import CheckResult

_JOBS: weakref.WeakKeyDictionary[Any, dict[str, BackupJob]] = weakref.WeakKeyDictionary()


def _preflight(settings: Settings, request: BackupRequest) -> list[CheckResult]:
    from console.runner import preflight

    return preflight(settings, request)


def _execute(settings: Settings, request: BackupRequest, on_progress: ProgressCallback | None = None,
             cancel: CancelToken | None = None) -> BackupResult:
    from console.runner import execute

    return execute(settings, request, on_progress=on_progress, cancel=cancel)


@dataclass(frozen=True)
class BackupEngine:
    """What the backup screen runs and times: the real runner and clock, unless a test passes fixed
    ones (snapshots need the same checks, events and durations on every run, as with the app's prober)."""

    preflight: Callable[[Settings, BackupRequest], list[CheckResult]] = _preflight
    execute: Callable[..., BackupResult] = _execute
    """Called like ``console.runner.execute(settings, request, on_progress=, cancel=)``."""
    clock: Callable[[], float] = time.monotonic
    """Seconds for elapsed times, phase durations and ETAs."""


@dataclass
class PhaseState:
    name: str
    started: float
    done: int = 0
    total: int | None = None
    unit: str = "bytes"
    finished: bool = False
    ended: float | None = None
    stopped: str | None = None
    """"cancelled" or "failed" when the run ended inside this phase (it never finished)."""

    def eta_seconds(self, now: float) -> float | None:
        if self.finished or not self.total or self.done <= 0 or self.done >= self.total:
            return None
        rate = self.done / max(1e-6, now - self.started)
        return (self.total - self.done) / rate


@dataclass
class BackupJob:
    request: BackupRequest
    key: str
    engine: BackupEngine = field(default_factory=BackupEngine)
    cancel: CancelToken = field(default_factory=CancelToken)
    phases: dict[str, PhaseState] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    started: float = field(init=False)
    ended: float | None = None
    result: BackupResult | None = None
    error: str | None = None
    hint: str | None = None

    def __post_init__(self) -> None:
        self.started = self.engine.clock()

    @property
    def running(self) -> bool:
        return self.ended is None

    @property
    def current_phase(self) -> PhaseState | None:
        return next(reversed(self.phases.values()), None)

    def elapsed(self, now: float | None = None) -> float:
        return (self.ended or now or self.engine.clock()) - self.started

    def record(self, event: ProgressEvent) -> None:
        """Called from the worker thread for every engine event: cheap, no widgets."""
        now = self.engine.clock()
        phase = self.phases.get(event.phase)
        if phase is None:
            for earlier in self.phases.values():
                if not earlier.finished:
                    earlier.finished, earlier.ended = True, now
            phase = self.phases[event.phase] = PhaseState(event.phase, now)
        phase.unit = event.unit
        if event.done or event.total:
            phase.done, phase.total = event.done, event.total
        if event.finished:
            phase.finished, phase.ended = True, now
        if event.message:
            self.log.append(event.message)

    def run(self, settings: Settings) -> None:
        """The worker body: run the backup through the engine, keep the outcome."""
        try:
            self.result = self.engine.execute(settings, self.request, on_progress=self.record, cancel=self.cancel)
        except ConsoleError as exc:
            self.error, self.hint = exc.message, exc.hint
        except Exception as exc:  # noqa: BLE001 - shown on the screen rather than lost in a thread
            self.error = f"internal error: {type(exc).__name__}: {exc}"
        finally:
            now = self.engine.clock()
            outcome = self.result.status if self.result is not None else "failed"
            for phase in self.phases.values():
                if not phase.finished:  # the run ended inside it: it stopped, it did not finish
                    if outcome == "ok":
                        phase.finished = True
                    else:
                        phase.stopped = outcome
                    phase.ended = now
            self.ended = now


def job_key(settings: Settings, request: BackupRequest) -> str:
    """The run's lock name (``postgres-shop``, ``postgres-shop@analytics``): one job per lock, as one run per lock."""
    from console.runner import lock_name

    return lock_name(settings, request)


def find_job(app: App[Any], key: str) -> BackupJob | None:
    return _JOBS.get(app, {}).get(key)


def start_job(app: App[Any], settings: Settings, request: BackupRequest,
              engine: BackupEngine | None = None) -> BackupJob:
    """Start (or return the running) job for this target; the thread worker belongs to the app."""
    key = job_key(settings, request)
    jobs = _JOBS.setdefault(app, {})
    existing = jobs.get(key)
    if existing is not None and existing.running:
        return existing
    job = BackupJob(request, key, engine or BackupEngine())
    jobs[key] = job
    app.run_worker(lambda: job.run(settings), thread=True, exit_on_error=False, group="backup",
                   name=f"backup {key}", description=f"backup {key}")
    return job


def running_jobs(app: App[Any]) -> list[BackupJob]:
    """The backups this app runs now (what quitting would have to stop)."""
    return [job for job in _JOBS.get(app, {}).values() if job.running]
