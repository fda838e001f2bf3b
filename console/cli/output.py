"""The CLI's only way to print: data on stdout, diagnostics and progress on stderr."""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
import time
from typing import IO, Any, Sequence

from console.formatting import size
from console.jsonout import dumps
from console.progress import ProgressCallback, ProgressEvent


class Printer:
    """Writes human text or JSON; ``fatal`` ends a run with one line (or an exit_error object)."""

    def __init__(self, json_mode: bool = False, out: IO[str] | None = None, err: IO[str] | None = None) -> None:
        self.json_mode = json_mode
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def data(self, document: Any) -> None:
        self.out.write(dumps(document) + "\n")
        self.out.flush()

    def json_line(self, message_type: str, **fields: Any) -> None:
        """One line of a JSON-lines stream (long commands): status, error, summary."""
        self.out.write(json.dumps({"message_type": message_type, **fields}, default=str) + "\n")
        self.out.flush()

    def line(self, text: str = "") -> None:
        width = terminal_width(self.out)
        if width is not None:
            text = "\n".join(fit_line(part, width) for part in text.split("\n"))
        self.out.write(text + "\n")
        self.out.flush()

    def info(self, text: str) -> None:
        self.err.write(text + "\n")
        self.err.flush()

    def fatal(self, message: str, hint: str | None, code: int) -> None:
        if self.json_mode:
            self.err.write(json.dumps({"message_type": "exit_error", "code": int(code), "message": message,
                                       **({"hint": hint} if hint else {})}) + "\n")
        else:
            self.err.write(f"backup-console: error: {message}\n")
            if hint:
                self.err.write(f"  hint: {hint}\n")
        self.err.flush()

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.line(format_table(headers, rows, terminal_width(self.out)))

    def progress(self) -> ProgressCallback | None:
        """Progress for humans: a live bar on a terminal, one line per phase otherwise; none with --json."""
        if self.json_mode:
            return None
        return ProgressPrinter(self.err)


def terminal_width(stream: IO[str]) -> int | None:
    """The terminal's width when ``stream`` is one (or $COLUMNS says so); None for a pipe or file."""
    isatty = getattr(stream, "isatty", None)
    if isatty is None or not isatty():
        return None  # a pipe or a file gets whole lines: scripts cut them as they need
    return shutil.get_terminal_size().columns  # $COLUMNS first, then the terminal


def fit_line(text: str, width: int) -> str:
    """A line longer than the terminal, broken at spaces with its continuation indented two more
    than the line itself, instead of the terminal's own wrap in the middle of a word. A word longer
    than the width (a path) stays whole."""
    if len(text) <= width:
        return text
    indent = text[:len(text) - len(text.lstrip(" "))]
    return textwrap.fill(text[len(indent):], width, initial_indent=indent, subsequent_indent=indent + "  ",
                         break_long_words=False, break_on_hyphens=False, replace_whitespace=False)


MIN_WRAPPED = 12
"""A column is narrowed below this many characters only when the table cannot fit otherwise."""
MIN_NARROW = 6
"""Nor below this many, or below its header's longest word (headers wrap at their spaces)."""


def _narrow(widths: list[int], floors: list[int], budget: int) -> None:
    """Take a column off the widest column above its floor until the widths fit ``budget`` or none can give."""
    while sum(widths) > budget:
        giving = [i for i in range(len(widths)) if widths[i] > floors[i]]
        if not giving:
            return
        widest = max(giving, key=lambda i: widths[i])
        widths[widest] -= 1


def _wrap(value: str, width: int) -> list[str]:
    if len(value) <= width:
        return [value]
    return textwrap.wrap(value, width, break_long_words=True, break_on_hyphens=False) or [""]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], width: int | None = None) -> str:
    """Columns two spaces apart; with ``width``, the widest columns wrap so that no line is longer.

    Columns of prose (cells with spaces) are narrowed first, then any column, to MIN_WRAPPED; a table with many columns that still does not fit
    wraps its headers at their spaces ("STORAGE" over "CLASS") and narrows further to MIN_NARROW,
    the wrapping columns first.
    """
    cells = [[str(value) for value in row] for row in rows]
    widths = [max([len(header)] + [len(row[i]) for row in cells]) for i, header in enumerate(headers)]
    if width is not None:
        budget = width - 2 * (len(headers) - 1)
        natural_widths = list(widths)
        # Prose (a reason, a detail) wraps at its spaces; a set id or a path could only be cut in two,
        # and is what an operator copies: the prose gives first.
        prose = [any(" " in row[i].strip() for row in cells) for i in range(len(headers))]
        _narrow(widths, [MIN_WRAPPED if wraps else natural for wraps, natural in zip(prose, natural_widths)], budget)
        _narrow(widths, [MIN_WRAPPED] * len(widths), budget)
        floors = [max([MIN_NARROW] + [len(word) for word in header.split()]) for header in headers]
        # the columns that wrap already give first; short ones (a name, a size) stay whole if they can
        wrapping = [floor if natural > MIN_WRAPPED else MIN_WRAPPED for floor, natural in zip(floors, natural_widths)]
        _narrow(widths, wrapping, budget)
        _narrow(widths, floors, budget)
    lines = []
    for parts in (_wrap(header.upper(), widths[i]) for i, header in enumerate(headers)), *(
            (_wrap(value, widths[i]) for i, value in enumerate(row)) for row in cells):
        wrapped = list(parts)
        for depth in range(max(len(column) for column in wrapped)):
            lines.append("  ".join((column[depth] if depth < len(column) else "").ljust(widths[i])
                                   for i, column in enumerate(wrapped)).rstrip())
    return "\n".join(lines)


class ProgressPrinter:
    """Turns ProgressEvents into one line per phase (and message), or a live bar on a TTY."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.phase: str | None = None
        self.phase_started = time.monotonic()
        self._last_draw = 0.0
        self._bar_shown = False

    def __call__(self, event: ProgressEvent) -> None:
        new_phase = event.phase != self.phase
        if new_phase:  # the phase header first, then the message that belongs to it
            self._clear_bar()
            self.phase = event.phase
            self.phase_started = time.monotonic()
            self.stream.write(f"{event.phase} ...\n")
        if event.message:
            self._clear_bar()
            self.stream.write(f"  {event.message}\n")
        if new_phase:
            self.stream.flush()
            return
        if event.finished:
            self._clear_bar()
            done = size(event.done) if event.unit == "bytes" else str(event.done)
            self.stream.write(f"{event.phase}: done ({done}, {time.monotonic() - self.phase_started:.1f} s)\n")
        elif self.live and event.done and time.monotonic() - self._last_draw > 0.1:
            self._last_draw = time.monotonic()
            fraction = event.fraction
            bar = ""
            if fraction is not None:
                filled = int(fraction * 30)
                bar = "[" + "#" * filled + "." * (30 - filled) + f"] {fraction * 100:5.1f} % "
            amount = size(event.done) if event.unit == "bytes" else str(event.done)
            self.stream.write(f"\r  {bar}{amount}\x1b[K")
            self._bar_shown = True
        self.stream.flush()

    def _clear_bar(self) -> None:
        if self._bar_shown:
            self.stream.write("\r\x1b[K")
            self._bar_shown = False
