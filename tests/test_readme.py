"""README stays something a newcomer finishes: short, set-up first, and its key table is the code's."""

from __future__ import annotations

from pathlib import Path

from screens.keys import key_table

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_readme_is_short_and_starts_with_the_two_set_up_commands():
    assert len(README.splitlines()) < 400
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]
    assert "bash .ci/console" in first_block and "bash .ci/test" in first_block


def test_the_key_table_is_the_vocabulary():
    for typed, verb, meaning in key_table():
        assert f"| `{typed}` | {verb} | {meaning} |" in README, verb


def test_every_local_link_resolves():
    import re

    root = Path(__file__).resolve().parents[1]
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", README):
        assert (root / target).exists(), target


def test_the_dashboard_picture_is_the_current_80x24_snapshot():
    root = Path(__file__).resolve().parents[1]
    snapshot = root / "tests" / "snapshots" / "__snapshots__" / "test_dashboard_snapshots" / "test_dashboard_80x24.svg"
    assert (root / "docs" / "dashboard.svg").read_bytes() == snapshot.read_bytes(), \
        "cp the snapshot to docs/dashboard.svg"
