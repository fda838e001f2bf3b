"""The one place the headless CLI reaches the Textual layer: opening the interactive console.

Imported only when the console is opened, so cron and ``--json`` runs never load Textual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from console.config import Settings


def launch(settings: Settings, start_screen: str = "dashboard", **start_kwargs: Any) -> int:
    from screens.app import run_app  # the start-up cost of Textual is paid only here

    return int(run_app(settings, start_screen, **start_kwargs) or 0)
