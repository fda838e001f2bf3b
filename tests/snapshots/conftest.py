"""Snapshot helpers: ``no_color`` sets NO_COLOR before the app is built (Textual reads it at start)."""

from __future__ import annotations

import pytest


@pytest.fixture
def no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
