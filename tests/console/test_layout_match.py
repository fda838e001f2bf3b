"""Layout.match (one alternation of every template) says what trying the templates in order says."""

from __future__ import annotations

from console.kinds.layouts import LAYOUTS


def _in_order(layout, relative):
    for template in layout.templates:
        found = template.match(relative)
        if found is not None:
            return found
    return None


def _names(layout):
    stamps = ("20261207_020000", "2026120_020000", "20261207_0200001")
    names = ("shop", "app_billing", "x_20261207_020000", "")
    for template in layout.templates:
        extra = {field: sample for field, sample in (("listing", "queues"), ("file", "nginx.conf"))}
        for stamp in stamps:
            for name in names:
                for suffix in template.suffixes + (".tmp", ".partial"):
                    try:
                        yield template.pattern.format(ts=stamp, name=name, **extra) + suffix
                    except KeyError:
                        continue
    yield from ("", "README", "archives/", "backup_.dump", "snapshot_.rdb.gz")


def test_the_combined_pattern_matches_as_the_templates_in_order():
    checked = 0
    for layout in LAYOUTS.values():
        for other in LAYOUTS.values():  # every kind's names against every layout
            for relative in _names(other):
                assert layout.match(relative) == _in_order(layout, relative), (layout.kind, relative)
                checked += 1
    assert checked > 1000
