"""The one place the headless CLI reaches the Textual layer: opening the interactive console.

Imported only when the console is opened, so cron and ``--json`` runs never load Textual.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from console.config import Settings


def launch(settings: Settings, start_screen: str = "dashboard", **start_kwargs: Any) -> int:
    from screens.app import run_app  # the start-up cost of Textual is paid only here

    # A long-lived UI wants short collector pauses, not few ones: back to Python's thresholds (entry()
    # raised them for one-shot commands: a 20,000-object young generation took 40 ms here, an older one
    # 100-200 ms, each a key press that waited). What is loaded now (Textual, the console) lives as long
    # as the process, so no full collection needs to walk it again (bench/README.md, "Key latency").
    gc.set_threshold(700, 10, 10)
    gc.freeze()
    return int(run_app(settings, start_screen, **start_kwargs) or 0)
