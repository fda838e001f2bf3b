"""The Retention screen with base backups and a WAL archive: the pg-base and pg-wal rows, the WAL
ranges in the preview, and `a` deleting them after the typed number (sets + base backups + WAL files)."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input

from screens.app import BackupConsoleApp
from screens.retention import RetentionScreen
from screens.text_prompt import TextPromptModal
from tests.retention_fixtures import build_pitr_tree, now, segment_name
from tests.screens.conftest import fixed_prober, wait_until

pytestmark = pytest.mark.usefixtures("utc")


async def test_wal_ranges_are_previewed_and_deleted_after_the_typed_number(backup_dir, tmp_path, make_settings) -> None:
    tree = build_pitr_tree(backup_dir, tmp_path)
    archive = tree["archive"]
    settings = make_settings({"postgres.wal_archive_dir": str(archive), "retention.min_keep": 1})
    app = BackupConsoleApp(settings, clock=now, prober=fixed_prober(), start_screen="retention")

    def loaded() -> bool:
        return isinstance(app.screen, RetentionScreen) and app.screen.overview is not None and not app.screen._busy

    def summary() -> str:
        return str(app.screen.query_one("#retention-summary").render())

    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, loaded)
        assert "PLAN: remove 0 set(s), 1 base backup(s), 10 WAL file(s)" in summary()
        kinds = app.screen.query_one("#retention-kinds", DataTable)
        assert kinds.get_row("pg-base")[:3] == ["pg-base", "3", "remove 1"]
        assert kinds.get_row("pg-wal")[:3] == ["pg-wal", "21", "remove 10"]
        actions = app.screen.query_one("#retention-actions", DataTable)
        rows = [actions.get_row_at(index) for index in range(actions.row_count)]
        assert [row[1] for row in rows] == [f"postgres/base/{tree['a']}", f"WAL {segment_name(1, 1)}",
                                            f"WAL {segment_name(3, 6)}"]
        actions.focus()
        actions.move_cursor(row=1)
        await pilot.pause()
        detail = str(app.screen.query_one("#retention-detail").render())
        assert f"through {segment_name(1, 7)}, 8 file(s), older than the start of the oldest kept base backup " \
               f"postgres/base/{tree['b']}" in detail, detail
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, TextPromptModal))
        app.screen.query_one(Input).focus()
        await pilot.press("1", "0", "enter")  # the WAL files alone: not the whole plan
        await wait_until(pilot, lambda: isinstance(app.screen, RetentionScreen))
        await pilot.pause(0.2)
        assert (archive / f"{segment_name(1, 1)}.zst").exists()
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, TextPromptModal))
        app.screen.query_one(Input).focus()
        await pilot.press("1", "1", "enter")
        await wait_until(pilot, lambda: loaded() and "CLEAN" in summary())
    assert not (archive / f"{segment_name(1, 1)}.zst").exists() and (archive / f"{segment_name(1, 8)}.zst").exists()
    assert not (backup_dir / "postgres" / "base" / tree["a"]).exists()
