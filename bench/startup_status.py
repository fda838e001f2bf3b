"""Bench: time to the first painted dashboard, and `status` latency, beside the manual's checks.

Runs against the local services (PostgreSQL 5432, Redis 6379, RabbitMQ 5672/15672) and a
hanging TCP endpoint made here. The manual's monitor script (`pg_isready`, `redis-cli PING`,
`rabbitmqctl status`) is timed the same way; its redis-cli has no timeout, so against the
hanging endpoint it is capped. Prints a Markdown table; nothing is asserted.

    .venv/bin/python bench/startup_status.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONSOLE = [str(ROOT / ".venv" / "bin" / "backup-console")]
HANG_CAP_SECONDS = 20.0


def hanging_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: [held.append(sock.accept()[0]) for _ in iter(int, 1)], daemon=True).start()
    return sock.getsockname()[1]


def timed(argv: list[str], env: dict[str, str] | None = None, cap: float | None = None) -> float:
    started = time.perf_counter()
    try:
        subprocess.run(argv, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=cap)
    except subprocess.TimeoutExpired:
        return float("inf")
    return time.perf_counter() - started


def first_paint(runs: int) -> tuple[list[float], list[float]]:
    """Seconds until the panels are drawn, and until the PostgreSQL panel shows a state."""
    paints, data = [], []
    for _ in range(runs):
        subprocess.run(["tmux", "kill-session", "-t", "bcbench"], capture_output=True)
        started = time.perf_counter()
        subprocess.run(["tmux", "new-session", "-d", "-s", "bcbench", "-x", "80", "-y", "24", *CONSOLE], check=True)
        painted = got_data = None
        while time.perf_counter() - started < 20 and got_data is None:
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", "bcbench"], capture_output=True, text=True).stdout
            now = time.perf_counter() - started
            if painted is None and "PostgreSQL" in screen:
                painted = now
            if "PostgreSQL" in screen and "checking..." not in screen.split("Redis")[0]:
                got_data = now
            time.sleep(0.005)
        subprocess.run(["tmux", "kill-session", "-t", "bcbench"], capture_output=True)
        paints.append(painted or float("inf"))
        data.append(got_data or float("inf"))
    return paints, data


def manual_checks(redis_port: int, cap: float | None) -> float:
    started = time.perf_counter()
    for argv in (["pg_isready", "-h", "127.0.0.1", "-p", "5432"], ["redis-cli", "-p", str(redis_port), "PING"],
                 ["rabbitmqctl", "-q", "status"]):
        remaining = None if cap is None else max(0.1, cap - (time.perf_counter() - started))
        if timed(argv, cap=remaining) == float("inf"):
            return float("inf")
    return time.perf_counter() - started


def fmt(values: list[float]) -> str:
    finite = [v for v in values if v != float("inf")]
    if not finite:
        return f"> {HANG_CAP_SECONDS:.0f} s (never returns)"
    return f"{statistics.median(finite):.2f} s (min {min(finite):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    hang = hanging_port()
    rows = []
    if shutil.which("tmux"):
        paints, data = first_paint(args.runs)
        rows.append(("TUI: first painted dashboard (tmux 80x24)", fmt(paints), "-"))
        rows.append(("TUI: first probe results on screen", fmt(data), "-"))
    status_up = [timed([*CONSOLE, "status", "--json"]) for _ in range(args.runs)]
    manual_up = [manual_checks(6379, None) for _ in range(args.runs)]
    rows.append(("status, all services up", fmt(status_up), fmt(manual_up)))
    status_hang = [timed([*CONSOLE, "status", "--json"], {"REDIS_PORT": str(hang)}) for _ in range(max(1, args.runs // 2))]
    manual_hang = [manual_checks(hang, HANG_CAP_SECONDS)]
    rows.append(("status, Redis hanging (timeout 3 s)", fmt(status_hang), fmt(manual_hang)))
    print(f"| measurement ({args.runs} runs, median) | backup-console | manual's monitor checks |")
    print("|---|---|---|")
    for name, ours, theirs in rows:
        print(f"| {name} | {ours} | {theirs} |")


if __name__ == "__main__":
    sys.exit(main())
