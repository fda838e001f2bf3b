"""StateLine: a screen's one-line summary whose state is both a word at its start (readable without
colour) and one class of STATES (for the theme's colour)."""

from __future__ import annotations

from textual.widgets import Static

from console.errors import NotConfigured, one_line

STATES = ("-ok", "-warn", "-down", "-error", "-busy")


class StateLine(Static):
    def __init__(self, text: str, *, id: str) -> None:  # noqa: A002 - Textual's own name
        super().__init__(text, id=id, classes="-busy", markup=False)

    def show(self, text: str, state: str) -> None:
        self.update(text)
        self.remove_class(*STATES)
        self.add_class(state)

    def show_error(self, error: BaseException | None, what: str) -> None:
        """A worker that failed: a setting not made is NOT CONFIGURED (which one), anything else an
        ERROR on one line, never a traceback."""
        if isinstance(error, NotConfigured):
            self.show(f"NOT CONFIGURED: {error.message}", "-warn")
        else:
            self.show(f"ERROR: cannot read {what}: {one_line(error) if error else 'unknown error'}", "-error")
