"""Progress events and cancellation, shared by every long-running action.

An action takes ``on_progress`` (a plain callable) and ``cancel`` (a CancelToken); the CLI turns
events into lines or a live bar, the TUI into ProgressBars. One engine, two faces.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

from console.errors import Cancelled


@dataclass(frozen=True)
class ProgressEvent:
    """One step of progress.

    ``done``/``total`` are bytes unless ``unit`` says otherwise; ``total`` is None when unknown.
    ``message`` carries a log line (e.g. a pg_dump --verbose line) for a log pane.
    """

    phase: str
    done: int = 0
    total: int | None = None
    message: str | None = None
    unit: str = "bytes"
    finished: bool = False

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(1.0, self.done / self.total)


ProgressCallback = Callable[[ProgressEvent], None]


def emit(callback: ProgressCallback | None, event: ProgressEvent) -> None:
    """Send an event if anyone listens."""
    if callback is not None:
        callback(event)


class Throttle:
    """Lets byte-count events through at most ``per_second`` times a second.

    Phase changes, messages and finished events always pass: only the flood of byte counts is
    thinned, so a TUI is not drowned while a dump streams at hundreds of MB/s.
    """

    def __init__(self, callback: ProgressCallback | None, per_second: float = 8.0) -> None:
        self._callback = callback
        self._interval = 1.0 / per_second
        self._last_sent = 0.0
        self._last_phase: str | None = None

    def __call__(self, event: ProgressEvent) -> None:
        if self._callback is None:
            return
        now = time.monotonic()
        important = event.finished or event.message is not None or event.phase != self._last_phase
        if important or now - self._last_sent >= self._interval:
            self._last_sent = now
            self._last_phase = event.phase
            self._callback(event)


class CancelToken:
    """A thread-safe flag the face sets and the engine polls between chunks."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled by the operator")


def check_cancel(cancel: CancelToken | None) -> None:
    """Raise Cancelled if ``cancel`` was set; a None token never cancels."""
    if cancel is not None:
        cancel.raise_if_cancelled()
