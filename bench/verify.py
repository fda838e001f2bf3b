"""Benchmark: ``verify`` of a PostgreSQL, a Redis and a config set against reading their files once.

Builds real sets with our own backups (private PostgreSQL cluster and redis-server, data on the
``--out`` tmpfs): a PostgreSQL set of about ``--scale`` GB of database (``bench/pg_backup.py``'s
data: .dump.zst + .sql.gz), a Redis set of about ``--scale`` GB of keys (values half random
base64, half text: .rdb.gz), a config set of about ``--scale``/2 GB of files (half random, half
text: .tar.gz). Then, round-robin, ``--runs`` times each (median shown), per set:

* **floor**: every data file of the set decompressed once to /dev/null (``zstd -dc``,
  ``gzip -dc``), one process after the other;
* **manual**: its verify script's command on the same files (``gzip -t``; ``zstd -t`` for the
  .zst files, which its script has no command for);
* **ours**: ``console.verify.run.verify`` for that kind in a fresh Python process (imports,
  catalog scan, every check, metadata rewrite and report included).

Usage: ``.venv/bin/python bench/verify.py --scale 1.0 --runs 3 --out /dev/shm/bc-bench-verify``.
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
sys.path.insert(0, str(ROOT / "bench"))

BACKUP_CODE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from console.config import load_settings
from console.kinds.base import BackupRequest
from console.runner import execute
settings = load_settings(None, env={}, overrides=json.loads(sys.argv[2]))
result = execute(settings, BackupRequest(sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None))
assert result.ok, result.message
"""

VERIFY_CODE = """
import time
START = time.perf_counter()
import json, sys
sys.path.insert(0, sys.argv[1])
from console.config import load_settings
from console.verify.run import verify
settings = load_settings(None, env={}, overrides=json.loads(sys.argv[2]))
BEGIN = time.perf_counter()
report = verify(settings, kind=sys.argv[3])
for item in report.sets:
    for outcome in item.checks:
        if outcome.status not in ("passed", "skipped"):
            print(f"# {outcome.check} {outcome.status}: {outcome.message}", file=sys.stderr)
assert report.ok, "verification failed"
print(f"# phases: import+setup {BEGIN - START:.2f} s, verify {time.perf_counter() - BEGIN:.2f} s", file=sys.stderr)
"""


def _timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def _backup(overrides: dict[str, object], kind: str, target: str | None = None) -> None:
    argv = [sys.executable, "-c", BACKUP_CODE, str(ROOT), json.dumps(overrides), kind]
    subprocess.run(argv + ([target] if target else []), check=True)


def build_postgres(out: Path, scale: float, overrides: dict[str, object]) -> object:
    from pg_backup import build_database
    from tests.servers import PgCluster

    cluster = PgCluster(extra_conf={"shared_buffers": "'256MB'"}).init().start()
    size = build_database(cluster, scale)
    print(f"# postgres database {size / 1e9:.2f} GB", file=sys.stderr)
    _backup({**overrides, **cluster.overrides("bench")}, "postgres", "bench")
    return cluster


def build_redis(scale: float, overrides: dict[str, object]) -> object:
    from tests.servers import RedisServer

    server = RedisServer(appendonly=False).start()
    client = server.client()
    value_count = int(scale * 250_000)  # 4 KiB values
    pipe = client.pipeline(transaction=False)
    for index in range(value_count):
        value = base64.b64encode(os.urandom(1536)) + b" lorem ipsum dolor sit amet" * 76
        pipe.set(f"key:{index}", value)
        if index % 2000 == 1999:
            pipe.execute()
    pipe.execute()
    print(f"# redis used_memory {client.info('memory')['used_memory'] / 1e9:.2f} GB", file=sys.stderr)
    _backup({**overrides, **server.overrides(), "redis.data_dir": str(server.dir)}, "redis")
    return server


def build_config(out: Path, scale: float, overrides: dict[str, object]) -> Path:
    tree = out / "app-tree"
    tree.mkdir(exist_ok=True)
    files = int(scale * 500)  # 1 MiB each
    for index in range(files):
        sub = tree / f"dir{index % 20}"
        sub.mkdir(exist_ok=True)
        data = os.urandom(512 * 1024) if index % 2 else (b"key: value with some text %d\n" % index) * 18_000
        (sub / f"file{index}.yaml").write_bytes(data[: 1024 * 1024])
    _backup({**overrides, "config_backup.source_dir": str(tree)}, "config")
    return tree


def data_files(backup_dir: Path, kind: str) -> list[Path]:
    return sorted(p for p in (backup_dir / kind).rglob("*") if p.is_file() and not p.name.endswith(".json"))


def floor_argv(files: list[Path]) -> list[str]:
    steps = [["zstd", "-dcq", str(p)] if p.name.endswith(".zst") else ["gzip", "-dc", str(p)] if p.name.endswith(".gz")
             else ["cat", str(p)] for p in files]
    code = ("import json,subprocess,sys\n"
            "for argv in json.loads(sys.argv[1]):\n"
            "    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)\n")
    return [sys.executable, "-c", code, json.dumps(steps)]


def manual_argv(files: list[Path]) -> list[str]:
    steps = [["zstd", "-tq", str(p)] if p.name.endswith(".zst") else ["gzip", "-t", str(p)]
             for p in files if p.name.endswith((".gz", ".zst"))]
    code = ("import json,subprocess,sys\n"
            "for argv in json.loads(sys.argv[1]):\n"
            "    subprocess.run(argv, check=True)\n")
    return [sys.executable, "-c", code, json.dumps(steps)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="GB per set, roughly (config gets half)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", default="/dev/shm/bc-bench-verify")
    parser.add_argument("--kinds", default="postgres,redis,config")
    parser.add_argument("--before", metavar="COMMIT", help="also time verify as of this commit (git archive)")
    args = parser.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    tempfile.tempdir = str(out)
    backup_dir = out / "backups"
    overrides: dict[str, object] = {"backup_dir": str(backup_dir)}
    kinds = args.kinds.split(",")
    cleanup = []
    try:
        started = time.perf_counter()
        if "postgres" in kinds:
            cluster = build_postgres(out, args.scale, overrides)
            cleanup.append(cluster.destroy)
            overrides.update(cluster.overrides("bench"))
        if "redis" in kinds:
            server = build_redis(args.scale, overrides)
            cleanup.append(server.destroy)
        if "config" in kinds:
            build_config(out, args.scale, overrides)
        print(f"# sets built in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        before_root = None
        if args.before:
            before_root = out / "before"
            before_root.mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.before], check=True, capture_output=True)
            subprocess.run(["tar", "-x", "-C", str(before_root)], input=archive.stdout, check=True)
        contenders: dict[tuple[str, str], list[str]] = {}
        sizes: dict[str, tuple[int, int]] = {}
        for kind in kinds:
            files = data_files(backup_dir, kind)
            sizes[kind] = (sum(p.stat().st_size for p in files), len(files))
            contenders[(kind, "floor: decompress each file once")] = floor_argv(files)
            contenders[(kind, "manual: gzip -t / zstd -t")] = manual_argv(files)
            contenders[(kind, "ours: verify")] = [sys.executable, "-c", VERIFY_CODE, str(ROOT), json.dumps(overrides),
                                                  kind]
            if before_root is not None:
                contenders[(kind, f"ours before ({args.before})")] = [
                    sys.executable, "-c", VERIFY_CODE, str(before_root), json.dumps(overrides), kind]
        samples: dict[tuple[str, str], list[float]] = {name: [] for name in contenders}
        for argv in contenders.values():
            _timed(argv)  # warm the page cache and the imports
        for round_no in range(args.runs):
            for name, argv in contenders.items():
                samples[name].append(_timed(argv))
                print(f"# round {round_no + 1}: {name}: {samples[name][-1]:.2f} s", file=sys.stderr)
        print(f"\n{args.runs} run(s) each, median; files on {out}\n")
        print("| set | contender | time | x floor |")
        print("|---|---|---|---|")
        for kind in kinds:
            floor = statistics.median(samples[(kind, "floor: decompress each file once")])
            label = f"{kind} ({sizes[kind][1]} files, {sizes[kind][0] / 1e6:.0f} MB on disk)"
            for (set_kind, name), taken in samples.items():
                if set_kind == kind:
                    seconds = statistics.median(taken)
                    print(f"| {label} | {name} | {seconds:.2f} s | {seconds / floor:.2f} |")
    finally:
        for step in reversed(cleanup):
            step()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
