"""The run log is read from its end: the last lines are exactly what reading the whole file gives."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import console.runlog as runlog

PIECES = st.sampled_from(["a", "é", "{}", "\n", "\r\n", "\r", "\n\n", "€uro", "x" * 9, "\xff"])


@settings(max_examples=300, deadline=None)
@given(st.lists(PIECES, max_size=80), st.integers(min_value=1, max_value=12), st.integers(min_value=1, max_value=16))
def test_the_tail_is_what_the_whole_file_ends_with(tmp_path_factory, pieces, limit, block):
    path = tmp_path_factory.mktemp("log") / "runs.jsonl"
    raw = "".join(pieces).encode("utf-8", "surrogateescape").replace("\xff".encode(), b"\xff")
    path.write_bytes(raw)
    with open(path, encoding="utf-8", errors="replace") as handle:
        expected = handle.readlines()[-limit:]
    old = runlog.TAIL_BLOCK_BYTES
    runlog.TAIL_BLOCK_BYTES = block
    try:
        assert runlog.last_lines(path, limit) == expected
    finally:
        runlog.TAIL_BLOCK_BYTES = old


def test_read_runs_reads_only_the_end_of_a_long_log(backup_dir, monkeypatch):
    import time

    for number in range(2000):
        runlog.record_run(backup_dir, runlog.RunRecord("backup", "redis", "", "ok", time.time(), time.time(), str(number)))
    reads = []
    real_open = open

    class Counting:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def seek(self, *args):
            return self.handle.seek(*args)

        def read(self, size=-1):
            data = self.handle.read(size)
            reads.append(len(data))
            return data

    monkeypatch.setattr(runlog, "open", lambda *a, **k: Counting(real_open(*a, **k)), raising=False)
    records = runlog.read_runs(backup_dir, limit=5)
    assert [record.message for record in records] == ["1995", "1996", "1997", "1998", "1999"]
    size = runlog.BackupRoot(backup_dir).run_log.stat().st_size
    assert sum(reads) < size / 4
