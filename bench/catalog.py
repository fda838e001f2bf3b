"""Benchmark: the catalog at scale: 10,000 sets of every kind (ours and the manual's) under BACKUP_DIR.

Generates the tree (tiny files: only names, sizes and metadata matter to the catalog), then
times, ``--runs`` times each in a fresh process (median shown):

* ``scan``: ``console.catalog.scan`` of everything, twice in one process (cold, then again
  with nothing changed: the directory-mtime cache);
* ``status --json`` (the probes included; Redis etc. as configured on this machine);
* ``verify`` planning: ``console.verify.run.select_sets`` (before any file is read), and the same
  through the CLI: ``verify --set <an id that does not exist>`` scans, plans and exits 2 before reading;
* ``retention plan --json``.

With ``--before COMMIT`` every command also runs from that commit's tree (``git archive``), round-robin
with ours in the same run. Wall and CPU time (user + system of the process) are shown: on a shared
machine the CPU time moves less than the wall time.

Usage: ``.venv/bin/python bench/catalog.py --sets 10000 --runs 3 --out /dev/shm/bc-bench-catalog``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BODY = b"x" * 256
SHA = hashlib.sha256(BODY).hexdigest()


def _ours(names: list[str], stamp: datetime, kind: str) -> dict[str, object]:
    return {"producer": "backup-console 0.1.0", "kind": kind, "timestamp": stamp.astimezone().isoformat(),
            "artifacts": [{"name": name, "sha256": SHA, "size_bytes": len(BODY)} for name in names],
            "verification_status": "passed"}


def generate(backup_dir: Path, count: int) -> None:
    """``count`` sets, round-robin over the kinds, one hour apart, every third one in the manual's names."""
    now = datetime.now().replace(microsecond=0)
    for kind in ("postgres", "redis", "rabbitmq", "config", "certs"):
        (backup_dir / kind).mkdir(parents=True, exist_ok=True)
    for index in range(count):
        stamp = now - timedelta(hours=index)
        ts = stamp.strftime("%Y%m%d_%H%M%S")
        legacy = index % 3 == 0
        kind = ("postgres", "redis", "rabbitmq", "config", "certs")[index % 5]
        directory = backup_dir / kind
        if kind == "postgres":
            db = ("app", "billing")[index % 2]
            names = ([f"backup_{db}_{ts}.dump", f"backup_{db}_{ts}.sql.gz"] if legacy
                     else [f"backup_{db}_{ts}.dump.zst", f"backup_{db}_{ts}.sql.gz"])
            meta = f"backup_{db}_{ts}.json"
        elif kind == "redis":
            names = [f"snapshot_{ts}.rdb.gz", f"aof_{ts}.aof.gz"]
            meta = f"snapshot_{ts}.json"
        elif kind == "rabbitmq":
            names = [f"definitions_{ts}.json.gz"] + ([f"queues_{ts}.txt.gz"] if legacy else [])
            meta = f"backup_{ts}.json"
        elif kind == "config":
            names = [f"config_{ts}.tar.gz", f".env_{ts}.enc"]
            meta = f"manifest_{ts}.json"
        else:
            names = [f"certificates_{ts}.tar.gz.enc"]
            meta = f"cert_inventory_{ts}.json"
        for name in names:
            (directory / name).write_bytes(BODY)
        document = ({"timestamp": ts, "database": kind, "backup_type": "full"} if legacy
                    else _ours(names, stamp, kind))
        (directory / meta).write_text(json.dumps(document))


SCAN_CODE = """
import sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from console.catalog import scan
started = time.perf_counter()
first = scan(Path(sys.argv[2]))
middle = time.perf_counter()
second = scan(Path(sys.argv[2]))
assert len(first.sets) == len(second.sets)
print(f"{middle - started:.3f} {time.perf_counter() - middle:.3f} {len(first.sets)}")
"""

SELECT_CODE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from console.config import load_settings
from console.verify.run import select_sets
settings = load_settings(None, env={}, overrides=json.loads(sys.argv[2]))
sets, newest = select_sets(settings)
"""


def _timed(argv: list[str], env: dict[str, str], cwd: Path = ROOT) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the child, its stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=cwd)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu, proc.stdout.decode()


def contenders_of(tree: Path, overrides: str, label: str) -> dict[str, tuple[list[str], Path]]:
    """The timed commands, run from ``tree`` (``python -m console.cli`` finds the tree's package first)."""
    cli = [sys.executable, "-m", "console.cli"]
    return {
        f"verify planning (select_sets){label}": ([sys.executable, "-c", SELECT_CODE, str(tree), overrides], tree),
        f"`verify --set <missing>`: planning through the CLI, refused before any read{label}":
            (cli + ["verify", "--set", "postgres/none/20000101_000000", "--json"], tree),
        f"`status --json` (probes included){label}": (cli + ["status", "--json"], tree),
        f"`retention plan --json`{label}": (cli + ["retention", "plan", "--json"], tree),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", default="/dev/shm/bc-bench-catalog")
    parser.add_argument("--before", metavar="COMMIT", help="also time every command as of this commit, side by side")
    args = parser.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    backup_dir = out / "backups"
    started = time.perf_counter()
    generate(backup_dir, args.sets)
    print(f"# {args.sets} sets generated in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    env = {**os.environ, "BACKUP_DIR": str(backup_dir), "HOME": str(out)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    overrides = json.dumps({"backup_dir": str(backup_dir)})
    trees = [ROOT]
    contenders = contenders_of(ROOT, overrides, "")
    if args.before:
        before_root = out / "before"
        before_root.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.before], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(before_root)], input=archive.stdout, check=True)
        trees.append(before_root)
        contenders.update(contenders_of(before_root, overrides, f", as of {args.before}"))
        contenders[f"scan twice as of {args.before} (fresh process)"] = (
            [sys.executable, "-c", SCAN_CODE, str(before_root), str(backup_dir)], before_root)
    for tree in trees:  # as an installed package has them; this machine sets PYTHONDONTWRITEBYTECODE
        subprocess.run([sys.executable, "-m", "compileall", "-q", "console"], cwd=tree, check=True,
                       stdout=subprocess.DEVNULL)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
    scans: list[tuple[float, float]] = []
    try:
        for _ in range(args.runs):
            _, _, printed = _timed([sys.executable, "-c", SCAN_CODE, str(ROOT), str(backup_dir)], env)
            cold, warm, found = printed.split()
            scans.append((float(cold), float(warm)))
            for name, (argv, cwd) in contenders.items():
                wall, cpu, _ = _timed(argv, env, cwd)
                samples[name].append((wall, cpu))
        print(f"\n{args.sets} sets generated, {found} recognised; {args.runs} run(s) each, round-robin, median; "
              f"load average {os.getloadavg()[0]:.1f}\n")
        print("| step | wall | CPU |")
        print("|---|---|---|")
        print(f"| scan, first in a process | {statistics.median(s[0] for s in scans):.3f} s | - |")
        print(f"| scan again, nothing changed | {statistics.median(s[1] for s in scans):.3f} s | - |")
        for name, taken in samples.items():
            print(f"| {name} | {statistics.median(t[0] for t in taken):.2f} s "
                  f"| {statistics.median(t[1] for t in taken):.2f} s |")
    finally:
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
