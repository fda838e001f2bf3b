"""Waiting for the wall clock: set ids and stop times have one-second resolution."""

from __future__ import annotations

import time


def next_second(margin: float = 0.02) -> None:
    """Sleep until the wall clock is in a later second than now (0-1 s, 0.5 s on average; a fixed
    ``sleep(1.1)`` always paid 1.1 s): a stamp taken from here on differs from one taken before."""
    now = time.time()
    time.sleep(1.0 - now % 1.0 + margin)
