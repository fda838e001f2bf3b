"""The troubleshooting screen in read-only mode lists a real long transaction but refuses to
terminate it: no pid prompt, a refusal on screen, and the backend still alive afterwards."""

from __future__ import annotations

import time

import pytest

from screens.app import BackupConsoleApp
from screens.text_prompt import TextPromptModal
from screens.troubleshoot import TroubleshootScreen
from tests.screens.conftest import fixed_prober, wait_until


@pytest.fixture
def stuck_transaction(pg_cluster, pg_database):  # noqa: ANN001, ANN201
    """A session idle in a transaction in a throw-away database, as a forgotten report leaves it."""
    conn = pg_cluster.connect(pg_database, autocommit=False)
    conn.execute("SET application_name = 'stuck-report'")
    conn.execute("SELECT count(*) FROM pg_class")
    time.sleep(1.2)  # older than the 1 s threshold the test sets
    yield conn
    conn.close()


def alive(pg_cluster, pid: int) -> bool:  # noqa: ANN001
    with pg_cluster.connect() as conn:
        return conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone() is not None


def messages(app: BackupConsoleApp) -> list[str]:
    return [notification.message for notification in app._notifications]


async def test_read_only_refuses_to_terminate_and_the_backend_lives(pg_cluster, stuck_transaction,
                                                                   make_settings) -> None:
    pid = stuck_transaction.info.backend_pid
    settings = make_settings(pg_cluster.overrides(), read_only=True, **{"postgres.long_transaction_seconds": 1})
    app = BackupConsoleApp(settings, prober=fixed_prober(), start_screen="troubleshoot")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, TroubleshootScreen) and screen.sub_title.endswith("READ-ONLY")
        table = screen.query_one("#troubleshoot-transactions")
        await wait_until(pilot, lambda: any(str(table.get_row_at(i)[0]) == str(pid) for i in range(table.row_count)))
        while str(table.get_row_at(table.cursor_row)[0]) != str(pid):
            await pilot.press("down")

        await pilot.press("x", *str(pid), "enter")  # what an operator would type if a prompt had opened
        await pilot.pause(0.5)

        assert app.screen is screen and not isinstance(app.screen, TextPromptModal)
        assert "refused: terminating a backend is not allowed in read-only mode" in messages(app)
        assert not any("pg_terminate_backend" in text for text in messages(app))

    assert alive(pg_cluster, pid)
    assert stuck_transaction.execute("SELECT 1").fetchone() == (1,)  # its transaction is still usable
