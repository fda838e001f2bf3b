"""Snapshot helpers: ``no_color`` sets NO_COLOR before the app is built (Textual reads it at start)."""

from __future__ import annotations

import pytest
from textual.widgets import Input


@pytest.fixture
def no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")


@pytest.fixture(autouse=True)
def steady_cursor(monkeypatch: pytest.MonkeyPatch) -> None:
    """A focused Input blinks its cursor every 0.5 s and Textual 8 has no switch for it (the
    TEXTUAL_CURSOR_BLINK these tests once set is not read), so a snapshot caught the cursor on or off
    by timing: wrong about one run in three on a loaded machine. In snapshots it stays on."""
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: setattr(self, "_cursor_visible", True))
