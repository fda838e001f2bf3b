"""Pieces of the backup screen: a progress row per phase, and the result summary as text."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from textual.containers import Horizontal
from textual.widgets import Label

from console.formatting import duration, size
from console.instances import label as instance_label
from screens.widgets.text_bar import TextBar

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from screens.backup_job import BackupJob, PhaseState


class PhaseRow(Horizontal):
    """One phase: its name, a TextBar and the bytes done / expected (and ETA while running).

    The row holds its own bar and detail label: it is drawn from a timer that may fire while a new
    run replaces the rows, and a row being removed must draw nothing rather than look its parts up.
    No id: the rows of the previous run may still be on their way out when the next run's rows
    of the same phase names are mounted.
    """

    def __init__(self, state: PhaseState, clock: Callable[[], float]) -> None:
        super().__init__(classes=f"phase-row phase-{state.name}")
        self.phase = state.name
        self.state = state
        self.clock = clock
        self._bar = TextBar(classes="phase-bar")
        self._detail = Label("", classes="phase-detail", markup=False)

    def compose(self) -> ComposeResult:
        yield Label(self.phase, classes="phase-name", markup=False)
        yield self._bar
        yield self._detail

    def on_mount(self) -> None:
        self.show(self.clock())

    def show(self, now: float) -> None:
        if not (self.is_attached and self._bar.is_attached and self._detail.is_attached):
            return
        state = self.state
        bar, detail = self._bar, self._detail
        self.set_class(state.stopped is not None, "-stopped")
        bar.set_class(state.stopped is not None, "-stopped")
        if state.stopped is not None:  # cancelled or failed mid-phase: the bar stays where it stopped
            if state.total:
                bar.update(total=state.total, progress=min(state.done, state.total))
            took = duration((state.ended or now) - state.started)
            amount = f" at {size(state.done)}" if state.done and state.unit == "bytes" else (
                f" at {state.done} {state.unit}" if state.done else "")
            detail.update(f"{state.stopped.upper()}{amount} after {took}")
        elif state.finished:
            total = state.total or max(state.done, 1)
            bar.update(total=total, progress=total)
            took = duration((state.ended or now) - state.started)
            detail.update(f"done, {size(state.done)} in {took}" if state.done and state.unit == "bytes"
                          else f"done in {took}")
        elif state.total:
            bar.update(total=state.total, progress=min(state.done, state.total))
            eta = state.eta_seconds(now)
            amount = (f"{size(state.done)} / ~{size(state.total)}" if state.unit == "bytes"
                      else f"{state.done} / {state.total} {state.unit}")
            detail.update(amount + (f"  ETA {duration(eta)}" if eta else ""))
        elif state.done:
            detail.update(size(state.done) if state.unit == "bytes" else f"{state.done} {state.unit}")


def summary_text(job: BackupJob) -> str:
    """The result as plain lines: what, where, each file with size and short sha256."""
    result = job.result

    what = f"{instance_label(job.request.kind, job.request.instance)} backup" + (
        f" of {job.request.target}" if job.request.target else "")
    if result is None:
        lines = [f"FAILED: {what}: {job.error or 'no result'}"]
        if job.hint:
            lines.append(f"hint: {job.hint}")
        return "\n".join(lines)
    if not result.ok:
        lines = [f"{result.status.upper()}: {what}: {result.message}"]
        hint = result.extra.get("hint") if result.extra else None
        if hint:
            lines.append(f"hint: {hint}")
        return "\n".join(lines)
    where = result.files[0].path.parent if result.files else "?"
    # The run's duration as the status line gives it (the engine's own figure leaves out lock and log).
    lines = [f"OK: {what} in {duration(job.elapsed())} - {result.set_id}", f"where: {where}"]
    for info in result.files:
        lines.append(f"{info.name}  {size(info.size_bytes)}  sha256 {info.sha256[:12]}")
    return "\n".join(lines)

