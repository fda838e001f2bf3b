"""Bench: key latency on the dashboard: a focus move, from the key sent to tmux until the pane shows it.

Starts ``backup-console`` in tmux (80x24) against the local services and a private BACKUP_DIR,
waits for the first probe results, then presses ``right`` ``--presses`` times (a random 150-400 ms
apart, so presses land anywhere in the refresh cycle) and times each one until the focused panel
(the one drawn with ``╔═``) is another. Keys and screen reads go through one tmux control-mode
client (``tmux -C``), so a read costs a round trip to the tmux server instead of a process start.

Twice: with the machine as it is (``idle``), and while ``backup-console backup postgres`` runs from
the command line, over and over, against a private cluster holding about ``--scale`` GB
(bench/pg_backup.py's data; both cores busy: pg_dump, the server, our compression threads). The
console and the backup share BACKUP_DIR and PostgreSQL settings, so the dashboard shows the running
backup as an operator would see it. Prints p50/p95/max per phase; nothing is asserted.

    .venv/bin/python bench/key_latency.py --presses 20 --scale 1.0     # ~5 minutes, most of it building the data
    .venv/bin/python bench/key_latency.py --presses 20 --no-backup     # idle only, seconds
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
CONSOLE = str(ROOT / ".venv" / "bin" / "backup-console")


class ControlClient:
    """One ``tmux -C attach`` client: commands in, their output blocks out; %output lines are timestamped."""

    def __init__(self, session: str) -> None:
        self.proc = subprocess.Popen(["tmux", "-C", "attach", "-t", session], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, bufsize=0)
        self.blocks: queue.Queue[list[str]] = queue.Queue()
        self.outputs: list[float] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.command("refresh-client -C 80x24")  # a control client must not change the window's size
        self.session = session

    def _read(self) -> None:
        assert self.proc.stdout is not None
        block: list[str] | None = None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line.startswith("%output"):
                self.outputs.append(time.perf_counter())
            elif line.startswith("%begin"):
                block = []
            elif line.startswith(("%end", "%error")) and block is not None:
                self.blocks.put(block)
                block = None
            elif block is not None:
                block.append(line)

    def command(self, text: str) -> list[str]:
        while not self.blocks.empty():  # replies to the attach itself
            self.blocks.get_nowait()
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")
        return self.blocks.get(timeout=10)

    def screen(self) -> list[str]:
        return self.command(f"capture-pane -p -t {self.session}")

    def close(self) -> None:
        self.proc.terminate()


def focused(screen: list[str]) -> str | None:
    """The title of the panel drawn with a double border (the focused one)."""
    for line in screen:
        at = line.find("╔═ ")
        if at >= 0:
            return line[at + 3:].split(" ", 1)[0]
    return None


def press_and_wait(client: ControlClient, timeout: float = 5.0) -> float:
    before = focused(client.screen())
    started = time.perf_counter()
    client.command(f"send-keys -t {client.session} Right")
    while time.perf_counter() - started < timeout:
        now = focused(client.screen())
        if now is not None and now != before:
            return time.perf_counter() - started
        time.sleep(0.001)
    return float("inf")


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return (f"p50 {statistics.median(ordered) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
            f"max {ordered[-1] * 1000:.0f} ms")


def measure(client: ControlClient, presses: int) -> list[float]:
    taken = []
    for _ in range(presses):
        time.sleep(random.uniform(0.15, 0.4))
        taken.append(press_and_wait(client))
    return taken


def start_console(session: str, env: dict[str, str], console: str = CONSOLE, cwd: Path = ROOT) -> ControlClient:
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    command = "env " + " ".join(f"{key}={value}" for key, value in env.items()) + " " + console
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", "-c", str(cwd), command],
                   check=True)
    client = ControlClient(session)
    deadline = time.perf_counter() + 30
    while time.perf_counter() < deadline:
        screen = client.screen()
        text = "\n".join(screen)
        if focused(screen) and "checking..." not in text and "scanning backups" not in text:
            return client
        time.sleep(0.05)
    raise RuntimeError("the dashboard did not come up within 30 s:\n" + "\n".join(client.screen()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presses", type=int, default=20)
    parser.add_argument("--scale", type=float, default=1.0, help="database size in GB for the backup phase")
    parser.add_argument("--no-backup", action="store_true", help="only the idle phase")
    parser.add_argument("--console", default=CONSOLE, help="the command that opens the console (e.g. under a profiler)")
    parser.add_argument("--before", metavar="COMMIT", help="also measure the console as of this commit, alternating")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bc-bench-keys-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    os.chmod(scratch, 0o711)  # the postgres user (initdb runs as it under root) must reach the cluster's dir
    tempfile.tempdir = str(scratch)
    env = {"BACKUP_DIR": str(scratch / "backups"), "HOME": str(scratch)}
    (scratch / "backups").mkdir()
    subprocess.run([sys.executable, "-m", "compileall", "-q", "console", "screens", "themes"], cwd=ROOT,
                   stdout=subprocess.DEVNULL, check=False)
    cluster = None
    backup: subprocess.Popen[bytes] | None = None
    session = f"bckeys{os.getpid()}"
    results: dict[str, list[float]] = {}
    backups_run = 0
    # tmux's server exits with its last session, and a new-session racing that exit fails: keep one open
    subprocess.run(["tmux", "new-session", "-d", "-s", f"{session}-keep", "sleep 3600"], check=True)
    try:
        if not args.no_backup:
            from pg_backup import build_database
            from tests.servers import PgCluster

            cluster = PgCluster(extra_conf={"shared_buffers": "'256MB'"}).init().start()
            started = time.perf_counter()
            size = build_database(cluster, args.scale)
            print(f"# database {size / 1e9:.2f} GB built in {time.perf_counter() - started:.0f} s", file=sys.stderr)
            env.update(POSTGRES_HOST=cluster.host, POSTGRES_PORT=str(cluster.port), POSTGRES_USER=cluster.user,
                       POSTGRES_DB="bench")
        consoles = {"": (args.console, ROOT)}
        if args.before:
            before_root = scratch / "before"
            before_root.mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.before], check=True, capture_output=True)
            subprocess.run(["tar", "-x", "-C", str(before_root)], input=archive.stdout, check=True)
            subprocess.run([sys.executable, "-m", "compileall", "-q", "console", "screens", "themes"], cwd=before_root,
                           stdout=subprocess.DEVNULL, check=False)
            consoles[f", as of {args.before}"] = (f"{sys.executable} -m console.cli", before_root)

        def phase(name: str) -> None:
            for _ in range(2):  # each console twice, alternating: both see the same load
                for label, (console, cwd) in consoles.items():
                    client = start_console(session, env, console, cwd)
                    try:
                        results.setdefault(name + label, []).extend(measure(client, (args.presses + 1) // 2))
                    finally:
                        client.close()
                        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)

        phase("idle")
        if cluster is not None:
            stop = threading.Event()

            def backups() -> None:
                nonlocal backup, backups_run
                while not stop.is_set():
                    backup = subprocess.Popen([CONSOLE, "backup", "postgres", "--json"], env={**os.environ, **env},
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    backup.wait()
                    backups_run += 1
                    shutil.rmtree(scratch / "backups" / "postgres", ignore_errors=True)

            runner = threading.Thread(target=backups, daemon=True)
            runner.start()
            time.sleep(2.0)  # past the pre-flight checks: pg_dump is streaming
            try:
                phase("during a CLI backup")
            finally:
                stop.set()
                if backup is not None:
                    backup.terminate()
                runner.join(30)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", f"{session}-keep"], capture_output=True)
        if cluster is not None:
            cluster.destroy()
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"\n{args.presses} presses per phase; load average {os.getloadavg()[0]:.1f}"
          + (f"; {backups_run} backup(s) of {args.scale:g} GB ran during the second phase" if cluster else "") + "\n")
    print("| phase | focus move, key to pane |")
    print("|---|---|")
    for phase, values in results.items():
        print(f"| {phase} | {percentiles(values)} |")
    print(json.dumps({phase: [round(v * 1000, 1) for v in values] for phase, values in results.items()}),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
