"""Bench: time to the first painted dashboard beside a minimal Textual app, and `status` beside the manual's checks.

Runs against the local services (PostgreSQL 5432, Redis 6379, RabbitMQ 5672/15672) and a
hanging TCP endpoint made here. Every contender runs in a fresh process, round-robin within one
run, so that all of them see the same machine load:

* **first paint**: a process started in tmux (80x24) until the pane shows its text: a minimal
  Textual app (one ``Static``), and ``backup-console`` until its panels are drawn, until the first
  probe results show, and until the Backups panel has been filled from the catalog;
* **status**: ``backup-console status --json`` as a whole process, against the manual's monitor
  checks (``pg_isready``, ``redis-cli PING``, ``rabbitmqctl status``) run one after the other
  as its script does; with every service up, and with Redis pointed at a TCP endpoint that accepts
  and never answers (the manual's redis-cli has no timeout, so it is capped);
* with ``--rss-seconds N``, the TUI's resident memory after N seconds on the dashboard.

BACKUP_DIR and HOME are a private scratch directory; ``--sets N`` first writes N tiny sets there (bench/catalog.py's generator),
so the dashboard's first full frame is measured at that size. Prints Markdown; nothing is asserted.

    .venv/bin/python bench/startup_status.py [--runs 5] [--sets 10000] [--rss-seconds 300]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
# `python -m` from ROOT, as the --before tree runs: this tree's package first on sys.path, whichever tree
# the venv's editable install points at (a git worktree shares the main tree's venv).
CONSOLE = [str(ROOT / ".venv" / "bin" / "python"), "-m", "console.cli"]
HANG_CAP_SECONDS = 20.0
MINIMAL_APP = """
from textual.app import App
from textual.widgets import Static


class Minimal(App):
    def compose(self):
        yield Static("PostgreSQL minimal")


Minimal().run()
"""


def hanging_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: [held.append(sock.accept()[0]) for _ in iter(int, 1)], daemon=True).start()
    return sock.getsockname()[1]


def timed(argv: list[str], env: dict[str, str] | None = None, cap: float | None = None, cwd: Path = ROOT
          ) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child); wall is inf when it did not end within ``cap``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    try:
        subprocess.run(argv, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=cap, cwd=cwd)
    except subprocess.TimeoutExpired:
        return float("inf"), float("nan")
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def _rss_kb(session: str) -> int | None:
    """VmRSS of the process tmux started (the console itself)."""
    pid = subprocess.run(["tmux", "display-message", "-p", "-t", session, "#{pane_pid}"], capture_output=True,
                         text=True).stdout.strip()
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def first_paint(argv: list[str], env: dict[str, str], markers: dict[str, object], stay: float = 0.0,
                cwd: Path = ROOT) -> tuple[dict[str, float], int | None]:
    """Seconds from starting ``argv`` in tmux until each marker (a predicate on the pane's text) first
    holds; then, with ``stay``, the RSS in kB after that many seconds.

    The pane's shell waits for a line, then execs the process: the clock starts when that line is
    sent, and the pane is read through one tmux control-mode client (a round trip to the tmux
    server), so no process is started while the contender starts (a ``tmux capture-pane`` every
    5 ms took CPU from it, more from the one that takes longer)."""
    from key_latency import ControlClient

    session = f"bcbench{os.getpid()}"
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    command = " ".join(f"{key}={value}" for key, value in env.items()) + " " + " ".join(argv)
    seen: dict[str, float] = {}
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", "-c", str(cwd),
                    f"read go; exec env {command}"], check=True)
    client = ControlClient(session)
    try:
        started = time.perf_counter()
        client.command(f"send-keys -t {session} Enter")
        while time.perf_counter() - started < 30 and len(seen) < len(markers):
            screen = "\n".join(client.screen())
            now = time.perf_counter() - started
            for name, holds in markers.items():
                if name not in seen and holds(screen):  # type: ignore[operator]
                    seen[name] = now
            time.sleep(0.002)
        rss = None
        if stay:
            time.sleep(max(0.0, stay - (time.perf_counter() - started)))
            rss = _rss_kb(session)
    finally:
        client.close()
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    return {name: seen.get(name, float("inf")) for name in markers}, rss


def manual_checks(redis_port: int, cap: float | None) -> tuple[float, float]:
    wall = cpu = 0.0
    for argv in (["pg_isready", "-h", "127.0.0.1", "-p", "5432"], ["redis-cli", "-p", str(redis_port), "PING"],
                 ["rabbitmqctl", "-q", "status"]):
        remaining = None if cap is None else max(0.1, cap - wall)
        step_wall, step_cpu = timed(argv, cap=remaining)
        if step_wall == float("inf"):
            return float("inf"), float("nan")
        wall, cpu = wall + step_wall, cpu + step_cpu
    return wall, cpu


def fmt(values: list[float]) -> str:
    finite = [v for v in values if v != float("inf")]
    if not finite:
        return f"> {HANG_CAP_SECONDS:.0f} s (never returns)"
    return f"{statistics.median(finite):.2f} s (min {min(finite):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sets", type=int, default=0, help="write this many sets into a private BACKUP_DIR first")
    parser.add_argument("--rss-seconds", type=float, default=0.0, help="also read the TUI's RSS after this long")
    parser.add_argument("--before", metavar="COMMIT", help="also run the TUI and status as of this commit (git archive)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bc-bench-startup-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    python = str(ROOT / ".venv" / "bin" / "python")
    trees = {"": (CONSOLE, ROOT)}
    if args.before:
        before_root = scratch / "before"
        before_root.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.before], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(before_root)], input=archive.stdout, check=True)
        trees[f" as of {args.before}"] = ([python, "-m", "console.cli"], before_root)  # the tree's package first
    for _, tree in trees.values():  # as installed; this machine sets PYTHONDONTWRITEBYTECODE
        subprocess.run([sys.executable, "-m", "compileall", "-q", "console", "screens", "themes"], cwd=tree,
                       stdout=subprocess.DEVNULL, check=False)
    env = {"BACKUP_DIR": str(scratch / "backups"), "HOME": str(scratch)}
    (scratch / "backups").mkdir()
    if args.sets:
        from catalog import generate

        generate(scratch / "backups", args.sets)
    minimal = scratch / "minimal_app.py"
    minimal.write_text(MINIMAL_APP)
    hang = hanging_port()
    tui_markers = {
        "panels drawn": lambda screen: "PostgreSQL" in screen,
        "first probe result": lambda screen: "PostgreSQL" in screen and "checking..." not in screen.split("Redis")[0],
        "Backups panel filled": lambda screen: "Backups" in screen and "scanning backups" not in screen,
    }
    samples: dict[str, list[float]] = {}
    rss: list[int] = []
    # One session stays open throughout: no run pays for starting tmux's server, and no new-session races
    # the exit of a server whose last session was just killed.
    keep = f"bcbench{os.getpid()}-keep"
    subprocess.run(["tmux", "new-session", "-d", "-s", keep, "sleep 3600"], check=True)
    try:
        for _ in range(args.runs):
            if shutil.which("tmux"):
                seen, _ = first_paint([python, str(minimal)], env, {"painted": lambda screen: "PostgreSQL" in screen})
                samples.setdefault("minimal Textual app (one Static): first paint", []).append(seen["painted"])
                for label, (argv, tree) in trees.items():
                    seen, _ = first_paint(argv, env, tui_markers, cwd=tree)
                    for name, seconds in seen.items():
                        samples.setdefault(f"TUI{label}: {name}", []).append(seconds)
            measured = [(f"status --json{label}, all services up", timed([*argv, "status", "--json"], env, cwd=tree))
                        for label, (argv, tree) in trees.items()]
            measured.append(("manual's checks, all services up", manual_checks(6379, None)))
            for name, (wall, cpu) in measured:
                samples.setdefault(name, []).append(wall)
                samples.setdefault(f"{name} (CPU)", []).append(cpu)
        hang_runs = max(1, args.runs // 2)
        for _ in range(hang_runs):
            samples.setdefault("status --json, Redis hanging (timeout 3 s)", []).append(
                timed([*CONSOLE, "status", "--json"], {**env, "REDIS_PORT": str(hang)})[0])
        samples["manual's checks, Redis hanging"] = [manual_checks(hang, HANG_CAP_SECONDS)[0]]
        if args.rss_seconds and shutil.which("tmux"):
            _, kb = first_paint(CONSOLE, env, tui_markers, stay=args.rss_seconds)
            if kb:
                rss.append(kb)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", keep], capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"\n{args.runs} runs, round-robin, median (min); sets in BACKUP_DIR: {args.sets}; "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print("| measurement | time |")
    print("|---|---|")
    for name, values in samples.items():
        if name.endswith("(CPU)"):
            print(f"| {name} | {statistics.median(values):.2f} s |")
        else:
            print(f"| {name} | {fmt(values)} |")
    print()
    floor = samples.get("minimal Textual app (one Static): first paint")
    manual = samples["manual's checks, all services up"]
    manual_cpu = samples["manual's checks, all services up (CPU)"]
    for label in trees:
        paint = samples.get(f"TUI{label}: panels drawn")
        if paint and floor:
            print(f"first paint{label}: TUI / minimal app = {statistics.median(paint) / statistics.median(floor):.2f} "
                  f"(per run: {', '.join(f'{a / b:.2f}' for a, b in zip(paint, floor))})")
        up, up_cpu = samples[f"status --json{label}, all services up"], samples[f"status --json{label}, all services up (CPU)"]
        print(f"status{label} / manual's checks = {statistics.median(up) / statistics.median(manual):.2f} "
              f"(CPU: {statistics.median(up_cpu) / statistics.median(manual_cpu):.2f})")
    if rss:
        print(f"TUI RSS after {args.rss_seconds:.0f} s on the dashboard: {rss[0] / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
