"""console.jsonout.dumps prints what json.dumps(indent=2, default=str) prints, byte for byte (the CLI's --json)."""

from __future__ import annotations

import enum
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from console.jsonout import dumps

SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
DOCUMENTS = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.tuples(children, children)
    | st.dictionaries(st.text(max_size=5) | st.integers() | st.booleans() | st.none() | st.floats(), children,
                      max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(DOCUMENTS)
def test_any_json_document_is_printed_as_json_dumps_prints_it(document):
    assert dumps(document) == json.dumps(document, indent=2, default=str)


class Code(enum.IntEnum):
    FAILED = 1


class Word(str, enum.Enum):
    UP = "up"


def test_the_values_the_console_prints():
    document = {"when": datetime(2026, 12, 7, tzinfo=timezone.utc), "path": Path("/backups/x.dump"),
                "code": Code.FAILED, "state": Word.UP, "empty": {}, "none": [], "nested": [[], [{}], {"a": ()}],
                "text": "caf\u00e9 \u2713 \"quoted\"\n\x00", 3: "int key", 1.5: "float key",
                "odd": [float("nan"), float("inf"), -float("inf"), -0.0, 1e100, 10**30]}
    assert dumps(document) == json.dumps(document, indent=2, default=str)
    assert dumps(document, indent=4) == json.dumps(document, indent=4, default=str)


def test_an_unsupported_key_is_refused_like_json_dumps():
    with pytest.raises(TypeError):
        json.dumps({(1, 2): 3}, indent=2, default=str)
    with pytest.raises(TypeError):
        dumps({(1, 2): 3})
