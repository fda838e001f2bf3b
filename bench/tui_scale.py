"""Benchmark: the console (TUI) at scale, in a real terminal (tmux, 80x24), side by side with an older commit.

* **First full frame**: BACKUP_DIR holds ``--sets`` sets (bench/catalog.py's generator: every kind,
  ours and the manual's names) and ``--reports`` verification reports, each over every one of those
  sets (a month of nightly ``verify`` runs); the pane is polled until the panels are drawn and until
  the Backups panel is filled from the catalog.
  "Filled" is the first frame with the panel's lines; "complete" the first without PENDING (the
  monitor's findings that need the probes are in; before the dashboard said PENDING, the same frame);
  "full frame" the first with that and every service panel past "checking...".
* **A hanging server** (``--hanging``): each contender is also started with Redis pointed at a local
  socket that accepts and never answers (REDIS_PORT; the probes' timeout is 3 s), its rows marked so.
* **CPU**: beside each frame's wall time, the user + system CPU time the console had used when it
  was seen (``/proc/<pid>/stat``): on a shared machine it moves much less than the wall time.
* **Reports screen**: then ``v`` is sent, and the pane polled until the reports table is filled.
* **RSS** (``--rss-seconds N``): ours and the older commit run side by side, each with the local
  services and a private empty BACKUP_DIR, and each with the ``--sets`` BACKUP_DIR; after N seconds
  on the dashboard, VmRSS and VmHWM of each process are read from /proc.

Every contender is a fresh process, round-robin; the machine's load average is printed (it is shared).

Usage: ``.venv/bin/python bench/tui_scale.py --sets 10000 --reports 30 --runs 5 --before 0479e13 [--hanging] [--rss-seconds 300]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
PYTHON = str(ROOT / ".venv" / "bin" / "python")

MARKERS = {
    "panels drawn": lambda screen: "PostgreSQL" in screen,
    "Backups panel filled": lambda screen: "Backups" in screen and "scanning backups" not in screen,
    "Backups panel complete (no finding pending)": lambda screen: "Backups" in screen
    and "scanning backups" not in screen and "PENDING" not in screen,
    "full frame (every panel probed, Backups complete)": lambda screen: "Backups" in screen
    and "scanning backups" not in screen and "PENDING" not in screen and "checking..." not in screen,
}
REPORTS_SHOWN = lambda screen: "report(s)" in screen or "NO REPORTS" in screen  # noqa: E731 - the status line


def write_reports(backup_dir: Path, count: int, set_ids: list[str]) -> None:
    """``count`` verification reports, one a day, each over every set (three passed checks per set)."""
    directory = backup_dir / "reports"
    directory.mkdir(parents=True, exist_ok=True)
    checks = [{"check": name, "status": "passed", "file": None, "message": "ok", "details": {}}
              for name in ("sha256", "decompress", "structure")]
    sets = [{"set_id": set_id, "kind": set_id.split("/")[0], "name": "", "timestamp": "", "status": "passed",
             "counts": {"passed": 3, "failed": 0, "warning": 0, "skipped": 0}, "duration_seconds": 0.01,
             "metadata_path": None, "metadata_written": False, "files": [], "s3": None, "checks": checks}
            for set_id in set_ids]
    now = datetime.now().replace(microsecond=0)
    for day in range(count):
        started = now - timedelta(days=day, hours=1)
        name = f"backup_verification_{started:%Y%m%d_%H%M%S}"
        document = {"schema": "backup-console/verify-report/1", "report": name, "status": "passed",
                    "started_at": started.astimezone().isoformat(), "finished_at": (started + timedelta(minutes=20))
                    .astimezone().isoformat(), "duration_seconds": 1200.0, "deep": False,
                    "kinds": ["postgres", "redis", "rabbitmq", "config", "certs"],
                    "summary": {"sets": len(sets), "sets_failed": 0, "sets_warning": 0, "passed": 3 * len(sets),
                                "failed": 0, "warnings": 0, "skipped": 0}, "sets": sets}
        (directory / f"{name}.json").write_text(json.dumps(document, indent=2))
        (directory / f"{name}.report").write_text("verification report\n")


def hanging_port() -> int:
    """A local TCP port that accepts connections and never answers (what a wedged server looks like)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted = []

    def accept() -> None:
        while True:
            accepted.append(listener.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    return listener.getsockname()[1]


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True).stdout


def start(session: str, argv: list[str], env: dict[str, str], cwd: Path) -> None:
    _tmux("kill-session", "-t", session)
    command = "env " + " ".join(f"{key}={value}" for key, value in env.items()) + " " + " ".join(argv)
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", "-c", str(cwd), command],
                   check=True)


def wait_for(session: str, holds, started: float, cap: float = 30.0) -> float:  # noqa: ANN001
    while time.perf_counter() - started < cap:
        if holds(_tmux("capture-pane", "-p", "-t", session)):
            return time.perf_counter() - started
        time.sleep(0.005)
    return float("inf")


def memory_kb(session: str) -> dict[str, int]:
    """VmRSS and VmHWM of the process tmux started (the console itself)."""
    pid = _tmux("display-message", "-p", "-t", session, "#{pane_pid}").strip()
    found = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                found[line.split(":")[0]] = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return found


def cpu_seconds(session: str) -> float:
    """User + system CPU time the console (the process tmux started) has used so far."""
    pid = _tmux("display-message", "-p", "-t", session, "#{pane_pid}").strip()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("inf")


def one_run(session: str, argv: list[str], env: dict[str, str], cwd: Path) -> dict[str, float]:
    started = time.perf_counter()
    start(session, argv, env, cwd)
    seen = {}
    try:
        for name, holds in MARKERS.items():
            seen[name] = wait_for(session, holds, started)
            seen[f"{name}: CPU"] = cpu_seconds(session)
        pressed = time.perf_counter()
        _tmux("send-keys", "-t", session, "v")
        seen["Reports screen filled (after v)"] = wait_for(session, REPORTS_SHOWN, pressed)
    finally:
        _tmux("kill-session", "-t", session)
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", type=int, default=10_000)
    parser.add_argument("--reports", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--before", metavar="COMMIT")
    parser.add_argument("--rss-seconds", type=float, default=0.0)
    parser.add_argument("--hanging", action="store_true", help="also run each with Redis hanging")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bc-bench-tui-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    trees = {"ours": ROOT}
    if args.before:
        before_root = scratch / "before"
        before_root.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.before], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(before_root)], input=archive.stdout, check=True)
        trees[f"as of {args.before}"] = before_root
    for tree in trees.values():  # as installed; this machine sets PYTHONDONTWRITEBYTECODE
        subprocess.run([sys.executable, "-m", "compileall", "-q", "console", "screens", "themes"], cwd=tree,
                       stdout=subprocess.DEVNULL, check=False)
    from catalog import generate

    big = scratch / "backups"
    generate(big, args.sets)
    sys.path.insert(0, str(ROOT))
    from console.catalog import scan

    write_reports(big, args.reports, [item.set_id for item in scan(big).sets])
    empty = scratch / "empty"
    empty.mkdir()
    argv = [PYTHON, "-m", "console.cli"]  # the tree's package first (cwd)
    keep = f"bctui{os.getpid()}-keep"  # one session throughout: no run pays for starting tmux's server
    subprocess.run(["tmux", "new-session", "-d", "-s", keep, "sleep 3600"], check=True)
    samples: dict[str, dict[str, list[float]]] = {label: {} for label in trees}
    loads = [os.getloadavg()[0]]
    memory: dict[str, dict[str, int]] = {}
    try:
        cases = [("", {})] + ([(" (redis hanging)", {"REDIS_PORT": str(hanging_port())})] if args.hanging else [])
        for _ in range(args.runs):
            for suffix, extra in cases:
                for label, tree in trees.items():
                    env = {"BACKUP_DIR": str(big), "HOME": str(scratch), **extra}
                    for name, seconds in one_run(f"bctui{os.getpid()}", argv, env, tree).items():
                        samples[label].setdefault(name + suffix, []).append(seconds)
            loads.append(os.getloadavg()[0])
        if args.rss_seconds:
            sessions = {}
            for label, tree in trees.items():
                for where, directory in (("empty BACKUP_DIR", empty), (f"{args.sets} sets", big)):
                    session = f"bcrss{os.getpid()}{len(sessions)}"
                    start(session, argv, {"BACKUP_DIR": str(directory), "HOME": str(scratch)}, tree)
                    sessions[f"{label}, {where}"] = session
            time.sleep(args.rss_seconds)
            loads.append(os.getloadavg()[0])
            for name, session in sessions.items():
                memory[name] = memory_kb(session)
                _tmux("kill-session", "-t", session)
    finally:
        _tmux("kill-session", "-t", keep)
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"\n{args.sets} sets, {args.reports} reports of every set; {args.runs} runs, round-robin, median (min); "
          f"load average {min(loads):.1f}-{max(loads):.1f}\n")
    labels = list(trees)
    print("| measurement | " + " | ".join(labels) + " |")
    print("|---|" + "---|" * len(labels))
    for name in samples["ours"]:
        cells = []
        for label in labels:
            values = [v for v in samples[label][name] if v != float("inf")]
            cells.append(f"{statistics.median(values):.2f} s (min {min(values):.2f})" if values else "never")
        print(f"| {name} | " + " | ".join(cells) + " |")
    if memory:
        print(f"\nAfter {args.rss_seconds:.0f} s on the dashboard (local services):\n")
        print("| console | VmRSS | VmHWM |")
        print("|---|---|---|")
        for name, found in memory.items():
            print(f"| {name} | {found.get('VmRSS', 0) / 1024:.0f} MB | {found.get('VmHWM', 0) / 1024:.0f} MB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
