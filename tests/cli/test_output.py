"""CLI tables fit an 80-column terminal: the widest columns wrap instead of running off the edge."""

from __future__ import annotations

import io

from console.cli.output import Printer, format_table

ROWS = [["postgres", "UP", "4 ms", "PostgreSQL 15.20 primary, 4/100 connections, archive_mode on, 0 failed archivals"],
        ["redis", "DOWN", "9 ms", "authentication failed at 127.0.0.1:6379 (wrong password): set REDIS_PASSWORD"]]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_table_wider_than_the_terminal_wraps_its_widest_column(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    out = Terminal()
    Printer(out=out).table(["service", "state", "latency", "detail"], ROWS)
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80, lines
    assert lines[0].split() == ["SERVICE", "STATE", "LATENCY", "DETAIL"]
    joined = " ".join(line[line.index(ROWS[0][3][:10]) if ROWS[0][3][:10] in line else 0:] for line in lines)
    assert "0 failed" in joined and "set REDIS_PASSWORD" in out.getvalue()  # wrapped, nothing cut


def test_a_pipe_gets_whole_lines():
    out = io.StringIO()
    Printer(out=out).table(["service", "state", "latency", "detail"], ROWS)
    assert any(len(line) > 80 for line in out.getvalue().splitlines())
    assert format_table(["a"], [["x" * 100]]) == "A\n" + "x" * 100
