"""Reading JSON the console did not necessarily write itself (metadata, reports, state files).

``loads`` is ``json.loads`` that fails with ValueError, and only ValueError, on anything that
is not plain JSON: NaN and Infinity (which Python would accept) and nesting deep enough to
exhaust the interpreter's stack. Callers already treat ValueError as "damaged file".
"""

from __future__ import annotations

import json
from typing import Any


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(raw: str | bytes | bytearray) -> Any:
    """Parse JSON; ValueError for invalid JSON, NaN/Infinity, or nesting too deep to read."""
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("nested too deeply to be read") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text ({exc.reason})") from None
