"""Drill records: stamped steps, the JSON and Markdown files after every step, interruption, reading back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from console.drill import Drill, interrupt_guard, list_drills, read_drill, render_markdown
from console.errors import UsageError

START = 1_795_000_000.0  # 2026-11-18, a fixed point so the files are predictable


class StepClock:
    """A clock that advances 7 seconds at every reading: time passes, deterministically."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        self.now += 7.0
        return self.now


def run_short_drill(backup_dir: Path) -> Drill:
    drill = Drill(backup_dir, "Q4 restore drill", ["alice", "bob"], ["postgres"], clock=StepClock())
    drill.record("postgres: Database is healthy", "check", "fail", "connection refused at 127.0.0.1:5999",
                 item="postgres.healthy")
    drill.add_note("primary stopped on purpose", item="postgres.healthy")
    drill.record("postgres: WAL archiving is healthy", "manual", "ok", "ticked by bob", who="bob",
                 item="postgres.wal_archiving")
    drill.record("gate override", "override", "override", "drill: primary down on purpose")
    step = drill.start_step("backup postgres", "backup")
    drill.end_step(step, "fail", "pg_dump: connection refused")
    return drill


def test_steps_are_stamped_in_order_and_saved_after_each(backup_dir: Path) -> None:
    drill = run_short_drill(backup_dir)
    saved = json.loads(drill.json_path.read_text())
    assert saved["status"] == "in_progress"  # written before the end, as the drill goes
    assert [s["name"] for s in saved["steps"]] == ["postgres: Database is healthy", "postgres: WAL archiving is healthy",
                                                   "gate override", "backup postgres"]
    stamps = [saved["started"]] + [t for s in saved["steps"] for t in (s["started"], s["ended"])]
    assert stamps == sorted(stamps) and len(set(stamps)) > 4
    assert all(s["duration_seconds"] == s["ended"] - s["started"] for s in saved["steps"])
    assert [s["who"] for s in saved["steps"]] == ["alice", "bob", "alice", "alice"]
    assert saved["steps"][0]["notes"] == ["primary stopped on purpose"]
    drill.finish()
    saved = json.loads(drill.json_path.read_text())
    assert saved["status"] == "completed" and saved["duration_seconds"] > 0
    assert drill.json_path.name.startswith("drill_") and drill.markdown_path.suffix == ".md"
    assert not list(drill.directory.glob(".*.tmp"))  # atomic rewrites leave no temp files


def test_markdown_transcript(backup_dir: Path) -> None:
    drill = run_short_drill(backup_dir)
    drill.finish()
    text = drill.markdown_path.read_text()
    assert text.startswith("# Drill: Q4 restore drill\n")
    summary = text.splitlines()[2]
    assert summary.startswith("**FAILED** · started ") and "4 steps, 2 failed, 1 override(s)" in summary
    assert "participants: alice, bob" in summary
    assert "| 1 | postgres: Database is healthy | alice |" in text
    assert "| FAIL | connection refused at 127.0.0.1:5999 (note: primary stopped on purpose) |" in text
    assert "alice on postgres.healthy: primary stopped on purpose" in text
    assert "## What failed\n\n- postgres: Database is healthy: connection refused" in text
    assert "## Overrides" in text and "drill: primary down on purpose" in text
    assert "Incomplete" not in text


def test_an_unended_drill_reads_as_incomplete(backup_dir: Path) -> None:
    drill = run_short_drill(backup_dir)
    assert "> **Incomplete:** the drill has not been ended" in drill.markdown_path.read_text()
    assert list_drills(backup_dir)[0].result == "running"  # its process (this one) is alive


def test_ctrl_c_inside_the_guard_marks_the_drill_incomplete(backup_dir: Path) -> None:
    drill = Drill(backup_dir, "guarded", clock=StepClock())
    step = drill.start_step("backup postgres", "backup")
    with pytest.raises(KeyboardInterrupt), interrupt_guard(drill):
        raise KeyboardInterrupt
    saved = json.loads(drill.json_path.read_text())
    assert saved["status"] == "incomplete" and saved["interrupted_by"] == "interrupted (Ctrl-C)"
    assert saved["steps"][0]["outcome"] == "cancelled" and step.ended is not None
    assert "**INCOMPLETE**" in drill.markdown_path.read_text()


SCRIPT = """
import os, signal, sys, time
from pathlib import Path
from console.drill import Drill, interrupt_guard
drill = Drill(Path(sys.argv[1]), "signalled", ["carol"])
drill.record("redis: healthy", "check", "ok", "PONG")
print(drill.json_path, flush=True)
if sys.argv[2] == "KILL":
    os.kill(os.getpid(), signal.SIGKILL)
with interrupt_guard(drill):
    os.kill(os.getpid(), getattr(signal, "SIG" + sys.argv[2]))
    time.sleep(30)
"""


@pytest.mark.parametrize(("signame", "reason"), [
    ("TERM", "SIGTERM"), ("HUP", "SIGHUP"), ("INT", "interrupted (Ctrl-C)"),
    ("KILL", None),
])
def test_a_signalled_process_leaves_a_transcript_marked_incomplete(backup_dir: Path, signame: str, reason) -> None:
    process = subprocess.run([sys.executable, "-c", SCRIPT, str(backup_dir), signame], capture_output=True, text=True,
                             timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert process.returncode != 0
    json_path = Path(process.stdout.strip())
    saved = json.loads(json_path.read_text())
    assert saved["steps"][0]["evidence"] == "PONG"
    markdown = json_path.with_suffix(".md").read_text()
    assert "**INCOMPLETE**" in markdown
    if reason is None:  # SIGKILL: nothing could run, the last save still says "not ended"
        assert saved["status"] == "in_progress"
        assert "has not been ended" in markdown
    else:
        assert saved["status"] == "incomplete" and saved["interrupted_by"] == reason
        assert f"interrupted ({reason})" in markdown
    assert list_drills(backup_dir)[0].result == "incomplete"


def test_leaving_the_program_without_ending_marks_it_incomplete(backup_dir: Path) -> None:
    script = ("import sys; from pathlib import Path; from console.drill import Drill; "
              "d = Drill(Path(sys.argv[1]), 'left'); print(d.json_path)")
    process = subprocess.run([sys.executable, "-c", script, str(backup_dir)], capture_output=True, text=True,
                             timeout=60, cwd=Path(__file__).resolve().parents[2], check=True)
    saved = json.loads(Path(process.stdout.strip()).read_text())
    assert saved["status"] == "incomplete"
    assert saved["interrupted_by"] == "the program exited before the drill was ended"


def test_list_and_read_past_drills(backup_dir: Path) -> None:
    first = Drill(backup_dir, "first", clock=StepClock())
    first.finish()
    second = Drill(backup_dir, "second", clock=lambda: START + 3600)
    second.record("rabbitmq: healthy", "check", "ok", "fine")
    second.finish()
    (backup_dir / "drills" / "drill_broken.json").write_text("{not json")
    summaries = list_drills(backup_dir)
    assert [s.name for s in summaries] == ["second", "first"]
    assert summaries[0].result == "ok" and summaries[0].duration_seconds == 0
    assert read_drill(backup_dir, "latest")["name"] == "second"
    assert read_drill(backup_dir, first.id)["name"] == "first"
    assert read_drill(backup_dir, first.id.removeprefix("drill_"))["name"] == "first"
    with pytest.raises(UsageError, match="no drill 'drill_19990101_000000'"):
        read_drill(backup_dir, "drill_19990101_000000")


def test_two_drills_in_the_same_second_get_their_own_files(backup_dir: Path) -> None:
    one = Drill(backup_dir, "one", clock=lambda: START)
    two = Drill(backup_dir, "two", clock=lambda: START)
    assert one.json_path != two.json_path and two.id.endswith("_2")
    one.finish()
    two.finish()


def test_participants_default_to_user_and_strangers_are_refused(backup_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("USER", "dave")
    drill = Drill(backup_dir, "", participants=[" ", ""])
    assert drill.participants == ["dave"] and drill.name == "drill"
    with pytest.raises(UsageError, match="'eve' is not a participant"):
        drill.record("x", "note", "ok", who="eve")
    drill.finish()


def test_markdown_escapes_table_cells() -> None:
    document = {"name": "x", "status": "completed", "started": START, "started_at": "t", "ended": START + 1,
                "duration_seconds": 1, "participants": ["a"],
                "steps": [{"name": "a|b", "who": "a", "started": START, "ended": START + 1, "duration_seconds": 1,
                           "outcome": "ok", "evidence": "line1\nline2", "notes": []}]}
    assert "| a\\|b | a |" in render_markdown(document) and "line1 line2" in render_markdown(document)


def test_every_state_word_maps_to_a_transcript_outcome_and_unknown_is_a_failure() -> None:
    from console.drill import OUTCOMES, outcome_of

    words = {"ok": "ok", "warn": "warn", "fail": "fail", "skip": "skipped", "failed": "fail", "cancelled": "cancelled",
             "passed": "ok", "warning": "warn", "something-new": "fail"}
    assert {word: outcome_of(word) for word in words} == words
    assert all(outcome in OUTCOMES for outcome in words.values())
