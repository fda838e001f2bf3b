"""Benchmark: restoring a PostgreSQL set into a new database against ``pg_restore -j 2`` of a plain dump.

Builds ``bench/pg_backup.py``'s database (about ``--scale`` GB) in a private cluster on the
``--out`` tmpfs, takes one backup with our engine (.dump.zst + .sql.gz) and one plain
``pg_dump -Fc`` (pg_dump's default gzip) of it, then, round-robin, ``--runs`` times each
(median shown), into a fresh database each time (dropped between runs, not timed):

* **reference**: ``createdb`` + ``pg_restore -j 2 -d NEW plain.dump`` (no check of any kind);
* **ours, --jobs N**: ``console.kinds.postgres.restore.restore_postgres`` in a fresh Python
  process for each ``--jobs`` value: sha256 check, decompression (into a temporary file when
  N > 1, since parallel pg_restore needs a seekable file), pg_restore, then every table's row
  count, the large objects and the schema hash compared with the metadata.

Usage: ``.venv/bin/python bench/restore.py --scale 1.0 --runs 3 --out /dev/shm/bc-bench-restore``.
"""

from __future__ import annotations

import argparse
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

RESTORE_CODE = """
import time
START = time.perf_counter()
import json, sys
sys.path.insert(0, sys.argv[1])
from console.catalog import scan
from console.config import load_settings
from console.kinds.postgres.restore import RestoreOptions, restore_postgres
settings = load_settings(None, env={}, overrides=json.loads(sys.argv[2]))
backup_set = scan(settings.backup_dir, ["postgres"]).sets[-1]
phases = {}
def seen(event):
    phases.setdefault(event.phase, time.perf_counter())
begin = time.perf_counter()
report = restore_postgres(settings, backup_set, RestoreOptions(sys.argv[3], create=True, jobs=int(sys.argv[4])),
                          on_progress=seen)
assert report.ok, report.as_json()
marks = sorted(phases.items(), key=lambda item: item[1]) + [("end", time.perf_counter())]
print("# phases: " + ", ".join(f"{k} {marks[i + 1][1] - at:.2f} s" for i, (k, at) in enumerate(marks[:-1]))
      + f" (import+setup {begin - START:.2f} s)", file=sys.stderr)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", default="1,2", help="our --jobs values to time (default 1,2)")
    parser.add_argument("--out", default="/dev/shm/bc-bench-restore")
    args = parser.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    tempfile.tempdir = str(out)
    from console.kinds.postgres.client import find_tool
    from pg_backup import build_database
    from tests.servers import PgCluster
    from verify import _backup

    cluster = PgCluster(extra_conf={"shared_buffers": "'256MB'", "max_wal_size": "'4GB'"}).init().start()
    try:
        size = build_database(cluster, args.scale)
        overrides = {"backup_dir": str(out / "backups"), **cluster.overrides("bench")}
        _backup(overrides, "postgres", "bench")
        plain = out / "plain.dump"
        target = f"host={cluster.host} port={cluster.port} user={cluster.user} dbname=bench"
        subprocess.run([find_tool("pg_dump").path, "-Fc", "-f", str(plain), "-d", target], check=True)
        pg_restore = find_tool("pg_restore").path
        counter = iter(range(10_000))

        def fresh_name() -> str:
            return f"restored_{next(counter)}"

        def drop(name: str) -> None:
            with cluster.connect() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        def reference() -> float:
            name = fresh_name()
            started = time.perf_counter()
            with cluster.connect() as conn:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
            subprocess.run([pg_restore, "-j", "2", "-d", target.replace("dbname=bench", f"dbname={name}"), str(plain)],
                           check=True)
            seconds = time.perf_counter() - started
            drop(name)
            return seconds

        def ours(jobs: int) -> float:
            name = fresh_name()
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", RESTORE_CODE, str(ROOT), json.dumps(overrides), name, str(jobs)],
                           check=True)
            seconds = time.perf_counter() - started
            drop(name)
            return seconds

        contenders = {"reference: createdb + `pg_restore -j 2` of a plain `-Fc` dump": reference}
        for jobs in (int(j) for j in args.jobs.split(",")):
            contenders[f"ours, --jobs {jobs} (.dump.zst, sha256 + counts + schema hash checked)"] = \
                lambda jobs=jobs: ours(jobs)
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        for round_no in range(args.runs):
            for name, run in contenders.items():
                samples[name].append(run())
                print(f"# round {round_no + 1}: {name}: {samples[name][-1]:.1f} s", file=sys.stderr)
        floor = statistics.median(samples[next(iter(contenders))])
        dump_size = next((out / "backups" / "postgres").rglob("*.dump.zst")).stat().st_size
        print(f"\nDatabase {size / 1e9:.2f} GB (pg_database_size); our .dump.zst {dump_size / 1e6:.0f} MB, plain -Fc "
              f"{plain.stat().st_size / 1e6:.0f} MB; {args.runs} run(s) each, median\n")
        print("| restore | time | x reference |")
        print("|---|---|---|")
        for name, taken in samples.items():
            seconds = statistics.median(taken)
            print(f"| {name} | {seconds:.1f} s | {seconds / floor:.2f} |")
    finally:
        cluster.destroy()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
