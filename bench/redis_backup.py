"""Benchmark: a Redis backup of about 1 GB, the manual's procedure against backup-console's, side by side.

Starts a private redis-server (free port, its own dir on ``--out``; no AOF, no automatic saves),
fills it with about ``--scale`` GB (4 KiB values, half random base64, half text: the data of
``bench/verify.py``), then runs round-robin, ``--runs`` times each (median shown), each from
BGSAVE to a finished set:

* **floor**: ``BGSAVE``, wait for it (``LASTSAVE`` polled every 50 ms), ``cp dump.rdb``: no compression,
  no check;
* **manual**: its Full Redis Backup Procedure: ``redis-cli BGSAVE``, poll ``LASTSAVE`` once a
  second until it moves (the script's intent; its own test ``now - LASTSAVE < 10`` passes at once
  when an earlier save was recent), ``cp`` the RDB, then ``gzip -9``;
* **ours**: ``console.runner.execute`` for ``redis`` in a fresh Python process (imports, pre-flight,
  BGSAVE, copy + gzip + sha256, RDB validation: magic, CRC64, redis-check-rdb; metadata).

Peak RSS: the biggest child process for floor and manual (redis-cli, cp, gzip), the console's
Python process for ours (redis-check-rdb comes on top); redis-server's fork is the same for all.
Usage: ``.venv/bin/python bench/redis_backup.py --scale 1.0 --runs 3 --out /dev/shm/bc-bench-redis``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHELL_CODE = """
import json, resource, subprocess, sys, time
port, rdb, out, compress = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
cli = ["redis-cli", "-p", port, "--raw"]
def lastsave():
    return int(subprocess.run(cli + ["LASTSAVE"], capture_output=True, check=True).stdout)
before = lastsave()
subprocess.run(cli + ["BGSAVE"], check=True, stdout=subprocess.DEVNULL)
while lastsave() == before:
    time.sleep(1 if compress else 0.05)
subprocess.run(["cp", rdb, out], check=True)
if compress:
    subprocess.run(["gzip", "-9", "-f", out], check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""

OURS_CODE = """
import time
START = time.perf_counter()
import json, resource, sys
sys.path.insert(0, sys.argv[1])
from console.config import load_settings
from console.kinds.base import BackupRequest
from console.runner import execute
settings = load_settings(None, env={}, overrides=json.loads(sys.argv[2]))
phases = {}
def seen(event):
    phases.setdefault(event.phase, time.perf_counter())
begin = time.perf_counter()
result = execute(settings, BackupRequest("redis", ""), on_progress=seen)
assert result.ok, result.message
marks = sorted(phases.items(), key=lambda item: item[1]) + [("end", time.perf_counter())]
breakdown = {name: round(marks[i + 1][1] - at, 2) for i, (name, at) in enumerate(marks[:-1])}
print("# phases: " + ", ".join(f"{k} {v} s" for k, v in breakdown.items()) + f" (import+setup {begin - START:.2f} s)",
      file=sys.stderr)
rdb = next(f for f in result.files if f.name.startswith("snapshot_") and not f.name.endswith(".json"))
print(json.dumps({"rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "size": rdb.size_bytes}))
"""


def fill(client, scale: float) -> None:  # noqa: ANN001 - redis.Redis
    """About ``scale`` GB of 4 KiB values: half random base64, half repeated text."""
    pipe = client.pipeline(transaction=False)
    for index in range(int(scale * 250_000)):
        pipe.set(f"key:{index}", base64.b64encode(os.urandom(1536)) + b" lorem ipsum dolor sit amet" * 76)
        if index % 2000 == 1999:
            pipe.execute()
    pipe.execute()


def _timed(argv: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.PIPE, check=True)
    return time.perf_counter() - started, proc.stdout.decode()


def contender_shell(server, out: Path, compress: bool) -> tuple[float, int, int]:  # noqa: ANN001
    target = out / ("manual.rdb" if compress else "floor.rdb")
    seconds, printed = _timed([sys.executable, "-c", SHELL_CODE, str(server.port), str(server.dir / "dump.rdb"),
                               str(target), "1" if compress else "0"])
    written = Path(f"{target}.gz") if compress else target
    size = written.stat().st_size
    written.unlink()
    return seconds, int(printed.split()[-1]), size


def contender_ours(server, out: Path) -> tuple[float, int, int]:  # noqa: ANN001
    backup_dir = out / "ours"
    shutil.rmtree(backup_dir, ignore_errors=True)
    overrides = {**server.overrides(), "backup_dir": str(backup_dir), "redis.data_dir": str(server.dir)}
    seconds, printed = _timed([sys.executable, "-c", OURS_CODE, str(ROOT), json.dumps(overrides)])
    report = json.loads(printed.strip().splitlines()[-1])
    shutil.rmtree(backup_dir, ignore_errors=True)
    return seconds, int(report["rss_kib"]), int(report["size"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="data in GB, roughly (default 1.0)")
    parser.add_argument("--runs", type=int, default=3, help="runs per contender; the median is reported")
    parser.add_argument("--out", default="/dev/shm/bc-bench-redis", help="scratch directory")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tempfile.tempdir = str(out)  # the server's dir goes there too
    from tests.servers import RedisServer

    server = RedisServer(appendonly=False).start()
    try:
        started = time.perf_counter()
        fill(server.client(), args.scale)
        used = int(server.client().info("memory")["used_memory"])
        print(f"# redis used_memory {used / 1e9:.2f} GB, filled in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        contenders = {
            "floor: `BGSAVE` + `cp` (no compression, no check)": lambda: contender_shell(server, out, False),
            "manual: `BGSAVE`, poll `LASTSAVE`, `cp`, `gzip -9`": lambda: contender_shell(server, out, True),
            "ours: `backup redis` (.rdb.gz, sha256, RDB validated, metadata)": lambda: contender_ours(server, out),
        }
        samples: dict[str, list[tuple[float, int, int]]] = {name: [] for name in contenders}
        for round_no in range(args.runs):
            for name, run in contenders.items():
                samples[name].append(run())
                print(f"# round {round_no + 1}: {name}: {samples[name][-1][0]:.1f} s", file=sys.stderr)
        rdb_size = (server.dir / "dump.rdb").stat().st_size
        print(f"\nRedis used_memory {used / 1e9:.2f} GB, RDB {rdb_size / 1e9:.2f} GB, {args.runs} run(s) each, "
              f"outputs on {out}\n")
        print("| pipeline | time (median) | runs | x floor | file | peak RSS |")
        print("|---|---|---|---|---|---|")
        floor = statistics.median(sample[0] for sample in samples[next(iter(samples))])
        for name, taken in samples.items():
            seconds = statistics.median(sample[0] for sample in taken)
            runs = ", ".join(f"{sample[0]:.1f}" for sample in taken)
            print(f"| {name} | {seconds:.1f} s | {runs} | {seconds / floor:.2f} | {taken[-1][2] / 1e6:.0f} MB | "
                  f"{max(sample[1] for sample in taken) / 1024:.0f} MB |")
    finally:
        server.destroy()
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
