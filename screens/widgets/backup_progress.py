"""Pieces of the backup screen: a progress row per phase, and the result summary as text."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar

if TYPE_CHECKING:
    from textual.app import ComposeResult

    from screens.backup_job import BackupJob, PhaseState


class PhaseRow(Horizontal):
    """One phase: its name, a ProgressBar and the bytes done / expected (and ETA while running)."""

    def __init__(self, state: PhaseState, clock: Callable[[], float]) -> None:
        super().__init__(id=f"phase-{state.name}", classes="phase-row")
        self.phase = state.name
        self.state = state
        self.clock = clock

    def compose(self) -> ComposeResult:
        yield Label(self.phase, classes="phase-name", markup=False)
        yield ProgressBar(show_eta=False, classes="phase-bar")
        yield Label("", classes="phase-detail", markup=False)

    def on_mount(self) -> None:
        self.show(self.clock())

    def show(self, now: float) -> None:
        from console.formatting import duration, size

        state = self.state
        bar = self.query_one(ProgressBar)
        detail = self.query_one(".phase-detail", Label)
        if state.finished:
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
    from console.formatting import duration, size

    result = job.result
    what = f"{job.request.kind} backup" + (f" of {job.request.target}" if job.request.target else "")
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
    lines = [f"OK: {what} in {duration(result.duration_seconds)} - {result.set_id}", f"where: {where}"]
    for info in result.files:
        lines.append(f"{info.name}  {size(info.size_bytes)}  sha256 {info.sha256[:12]}")
    return "\n".join(lines)

