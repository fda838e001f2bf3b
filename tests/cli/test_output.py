"""CLI tables fit an 80-column terminal: the widest columns wrap instead of running off the edge."""

from __future__ import annotations

import io
import string

from hypothesis import given
from hypothesis import strategies as st

from console.cli.output import Printer, fit_line, format_table
from console.cli.retention import run_policy_cli

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


UPLOAD_LS = (["kind", "instance", "name", "stamp", "objects", "size", "storage class", "prefix"],
             [["postgres", "analytics", "application_database", "20261207_142554", "3", "1.2 MB", "STANDARD",
               "backups/postgres@analytics/application_database/20261207_142554"],
              ["redis", "default", "-", "20261207_142555", "2", "20.5 kB", "STANDARD,GLACIER",
               "backups/redis/20261207_142555"]])
"""`upload ls`: eight columns, more than 80 columns even with every wide one at the wrapping minimum."""


def test_a_table_of_many_columns_wraps_its_headers_too(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    out = Terminal()
    Printer(out=out).table(*UPLOAD_LS)
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80, text
    for word in ("STORAGE", "CLASS", "GLACIER", "analytics", "20261207_", "142554"):
        assert word in text, text  # wrapped, nothing cut; the short columns stay whole


def test_retention_policy_fits_an_80_column_terminal(monkeypatch, make_settings):
    monkeypatch.setenv("COLUMNS", "80")
    out = Terminal()
    run_policy_cli(type("Args", (), {"json": False})(), make_settings(), Printer(out=out))
    lines = out.getvalue().splitlines()
    table = [line for line in lines if not line.startswith(("policy:", "verification reports:"))]
    assert max(len(line) for line in table) <= 80, "\n".join(lines)
    assert table[0].split()[:3] == ["KIND", "LOCAL", "S3"] and any("DEEP_ARCHIVE" in line for line in table)
    assert any(line.split()[:1] == ["postgres-wal"] for line in table)  # no word is cut


def test_a_prose_line_wider_than_the_terminal_breaks_at_spaces_with_a_hanging_indent(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    out = Terminal()
    prose = ("  WAL archive /var/backups/postgres/wal: 12 segment(s) older than 7 d (192 MiB); not deleted by "
             "retention while no base backup exists")
    Printer(out=out).line(prose)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and max(len(line) for line in lines) <= 80, lines
    assert lines[0].startswith("  WAL archive") and lines[1].startswith("    ") and not lines[1].startswith("     ")
    assert " ".join(line.strip() for line in lines) == prose.strip()


@given(st.lists(st.text(alphabet=string.ascii_letters + string.digits + "/._-:", min_size=1, max_size=30),
                min_size=1, max_size=40), st.integers(min_value=0, max_value=6), st.integers(min_value=40, max_value=120))
def test_fit_line_keeps_every_word_in_order_and_only_an_overlong_word_runs_past(words, indent, width):
    text = " " * indent + " ".join(words)
    lines = fit_line(text, width).split("\n")
    assert [word for line in lines for word in line.split()] == words
    assert all(len(line) <= width or len(line.split()) == 1 for line in lines), lines


def test_prose_wraps_before_an_identifier_is_cut(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    out = Terminal()
    Printer(out=out).table(["action", "set", "age", "size", "why"],
                           [["keep", "postgres/application_db/20261207_160922", "0.0 d", "5.6 kB",
                             "newest verified, min_keep 1/3, within 7 d"]])
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80, lines
    assert "postgres/application_db/20261207_160922" in lines[1], lines  # whole, on one line
    why = lines[0].index("WHY")
    assert " ".join(line[why:] for line in lines[1:]).split() == "newest verified, min_keep 1/3, within 7 d".split()
