"""``python -m console.cli`` runs the command (used by tests and when the script is not on PATH)."""

from __future__ import annotations

from console.cli import entry

entry()
