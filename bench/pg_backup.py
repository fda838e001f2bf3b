"""Benchmark: the manual's PostgreSQL backup vs raw pg_dump vs backup-console, side by side.

Builds a private cluster (initdb on a free port, data on tmpfs) holding ~``--scale`` GB of
realistic data (customers, orders, jsonb events with base64 payloads, an index, a large
object), then runs, each ``--runs`` times (median reported):

* the manual: ``pg_dump -Fc -Z9`` then ``pg_dump -Fp`` then ``gzip -9`` (Steps 3-4);
* raw: ``pg_dump -Fc -Z0`` (the floor);
* ours: ``backup-console``'s engine (console.runner.execute) with the default
  settings (.dump.zst + .sql.gz) and with ``sql_compression: zstd`` (.dump.zst + .sql.zst).

``--data hard`` makes about half the bytes of the dump random base64 text (compresses poorly);
``--contenders`` picks a subset; ``--timelines DIR`` saves each run's dump-phase progress events, and
the ETA the backup screen shows at 25 % is printed against the time really left.

Each contender runs in its own child process; wall time, output sizes and peak RSS (of the
Python process for ours, of the biggest process for the others) are printed as a Markdown
table. Usage: ``.venv/bin/python bench/pg_backup.py --scale 1.0 --out /dev/shm/bc-bench``.
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

# rows per 1.0 of scale: about 1 GB of pg_database_size together
CUSTOMERS = 300_000
ORDERS = 3_000_000
EVENTS = 1_300_000

DATA_SQL = """
CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL, email text NOT NULL, country char(2),
                        created timestamptz NOT NULL);
INSERT INTO customers
SELECT g, 'Customer ' || g, 'user' || g || '@example.' || (ARRAY['com','org','net','de'])[1 + g % 4],
       (ARRAY['DE','FR','US','GB','NL','PL','IT','ES'])[1 + g % 8], now() - (g % 1000) * interval '1 hour'
  FROM generate_series(1, {customers}) g;
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers,
                     amount numeric(12,2) NOT NULL, status text NOT NULL, created timestamptz NOT NULL);
INSERT INTO orders
SELECT g, 1 + (g::bigint * 7919) % {customers}, round((random() * 500)::numeric, 2),
       (ARRAY['new','paid','shipped','delivered','cancelled'])[1 + g % 5], now() - (g % 10000) * interval '1 minute'
  FROM generate_series(1, {orders}) g;
CREATE INDEX orders_customer ON orders (customer_id);
CREATE TABLE events (id bigserial PRIMARY KEY, kind text NOT NULL, payload jsonb NOT NULL, body text NOT NULL,
                     at timestamptz NOT NULL DEFAULT now());
INSERT INTO events (kind, payload, body)
SELECT (ARRAY['login','click','purchase','error'])[1 + g % 4],
       jsonb_build_object('user', g % 50000, 'session', md5(g::text), 'tags', jsonb_build_array('a', g % 7, 'b'),
                          'score', random()),
       encode(decode(md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text), 'hex'),
              'base64') || repeat(' lorem ipsum dolor', 8)
  FROM generate_series(1, {events}) g;
CREATE VIEW order_totals AS SELECT customer_id, sum(amount) AS total FROM orders GROUP BY customer_id;
SELECT lo_from_bytea(0, convert_to(repeat('large object ', 100000), 'UTF8'));
VACUUM ANALYZE;
"""


HARD_EVENTS = 1_000_000
"""Rows of events per 1.0 of scale in the hard profile: with 384 characters of random base64 each, about
half the bytes of the dump are text that compresses poorly (to about 75 %)."""

HARD_EVENTS_SQL = """
INSERT INTO events (kind, payload, body)
SELECT (ARRAY['login','click','purchase','error'])[1 + g % 4],
       jsonb_build_object('user', g % 50000, 'tags', jsonb_build_array('a', g % 7, 'b')),
       translate(encode(decode(md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text)
                               || md5(random()::text) || md5(random()::text) || md5(random()::text)
                               || md5(random()::text) || md5(random()::text) || md5(random()::text)
                               || md5(random()::text) || md5(random()::text) || md5(random()::text)
                               || md5(random()::text) || md5(random()::text) || md5(random()::text)
                               || md5(random()::text) || md5(random()::text), 'hex'), 'base64'), E'\\n', '')
  FROM generate_series(1, {events}) g;
"""


def data_script(profile: str, scale: float) -> str:
    """The SQL that fills the database: the default mix, or ``hard`` (half the bytes random base64)."""
    if profile == "hard":
        start, end = DATA_SQL.index("INSERT INTO events"), DATA_SQL.index("CREATE VIEW")
        script = DATA_SQL[:start] + HARD_EVENTS_SQL.strip() + "\n" + DATA_SQL[end:]
        return script.format(customers=int(CUSTOMERS * scale), orders=int(ORDERS * scale),
                             events=int(HARD_EVENTS * scale))
    return DATA_SQL.format(customers=int(CUSTOMERS * scale), orders=int(ORDERS * scale), events=int(EVENTS * scale))


def build_database(cluster, scale: float, profile: str = "default") -> int:  # noqa: ANN001 - tests.servers.PgCluster
    cluster.create_database("bench")
    with cluster.connect("bench") as conn:
        script = data_script(profile, scale)
        for statement in filter(str.strip, script.split(";\n")):
            conn.execute(statement)
        row = conn.execute("SELECT pg_database_size('bench')").fetchone()
    return int(row[0])


def _timed(argv: list[str]) -> tuple[float, str]:
    """Run a child to completion; return (wall seconds, its stdout)."""
    started = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.PIPE, check=False)
    seconds = time.perf_counter() - started
    if proc.returncode:
        raise RuntimeError(f"{argv[:3]} failed with exit {proc.returncode}")
    return seconds, proc.stdout.decode()


def _shell_runner(steps: list[list[str]]) -> list[str]:
    """A child Python process that runs the steps in order and reports the biggest RSS."""
    code = ("import json,resource,subprocess,sys\n"
            "for argv in json.loads(sys.argv[1]):\n"
            "    subprocess.run(argv, check=True, stderr=subprocess.DEVNULL)\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    return [sys.executable, "-c", code, json.dumps(steps)]


def contender_manual(pg_dump: str, target: str, out: Path) -> tuple[float, int, dict[str, int]]:
    dump, sql = out / "manual.dump", out / "manual.sql"
    steps = [[pg_dump, "-Fc", "-Z9", "--blobs", "-f", str(dump), "-d", target],
             [pg_dump, "-Fp", "-f", str(sql), "-d", target],
             ["gzip", "-9", "-f", str(sql)]]
    seconds, printed = _timed(_shell_runner(steps))
    return seconds, int(printed.split()[-1]), {"custom": dump.stat().st_size, "sql": Path(f"{sql}.gz").stat().st_size}


def contender_raw(pg_dump: str, target: str, out: Path) -> tuple[float, int, dict[str, int]]:
    dump = out / "raw.dump"
    seconds, printed = _timed(_shell_runner([[pg_dump, "-Fc", "-Z0", "-f", str(dump), "-d", target]]))
    return seconds, int(printed.split()[-1]), {"custom": dump.stat().st_size}


OURS_CODE = """
import time
START = time.perf_counter()
import json, resource, sys
sys.path.insert(0, sys.argv[1])
from console.config import load_settings
from console.kinds.base import BackupRequest
from console.runner import execute
overrides = json.loads(sys.argv[2])
settings = load_settings(None, env={}, overrides=overrides)
phases = {}
timeline = []
def seen(event):
    now = time.perf_counter()
    phases.setdefault(event.phase, now)
    if event.phase == "dump" and event.total:
        timeline.append((now - phases["dump"], event.done, event.total))
begin = time.perf_counter()
result = execute(settings, BackupRequest("postgres", "bench"), on_progress=seen)
assert result.ok, result.message
end = time.perf_counter()
marks = sorted(phases.items(), key=lambda item: item[1]) + [("end", end)]
eta = None
for at, done, total in timeline:  # the ETA the TUI shows (screens.backup_job.PhaseState) when the bar reaches 25 %
    if done >= total / 4:
        shown = (total - done) / (done / at)
        eta = {"at": round(at, 2), "shown": round(shown, 2), "dump_left": round(phases["counts"] - phases["dump"] - at, 2),
               "run_left": round(end - phases["dump"] - at, 2), "final_fraction": round(timeline[-1][1] / total, 3)}
        break
if len(sys.argv) > 3:
    with open(sys.argv[3], "w") as saved:
        json.dump(timeline, saved)
breakdown = {name: round(marks[i + 1][1] - at, 2) for i, (name, at) in enumerate(marks[:-1])}
print("# phases: " + ", ".join(f"{k} {v} s" for k, v in breakdown.items()) + f" (import+setup {begin - START:.2f} s)",
      file=sys.stderr)
sizes = {("custom" if ".dump" in f.name else "sql"): f.size_bytes for f in result.files if not f.name.endswith(".json")}
print("# eta at 25 %: " + json.dumps(eta), file=sys.stderr)
print(json.dumps({"eta": eta, "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "children_rss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "sizes": sizes,
                  "checks_seconds": sum(c.duration_ms for c in result.checks) / 1000}))
"""


TIMELINES: list[Path] = []
"""Where each run of ours saves its dump-phase progress events (``--timelines DIR``)."""


def contender_ours(cluster, out: Path, sql_compression: str,  # noqa: ANN001
                   timelines: Path | None = None) -> tuple[float, int, dict[str, int]]:
    backup_dir = out / f"ours-{sql_compression}"
    shutil.rmtree(backup_dir, ignore_errors=True)
    overrides = {**cluster.overrides("bench"), "backup_dir": str(backup_dir),
                 "postgres.sql_compression": sql_compression}
    argv = [sys.executable, "-c", OURS_CODE, str(ROOT), json.dumps(overrides)]
    if timelines is not None:
        TIMELINES.append(timelines / f"timeline-{sql_compression}-{len(TIMELINES) + 1}.json")
        argv.append(str(TIMELINES[-1]))
    seconds, printed = _timed(argv)
    report = json.loads(printed.strip().splitlines()[-1])
    shutil.rmtree(backup_dir, ignore_errors=True)
    return seconds, int(report["rss_kib"]), report["sizes"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="database size in GB, roughly (default 1.0)")
    parser.add_argument("--runs", type=int, default=1, help="runs per contender; the median is reported")
    parser.add_argument("--out", default="/dev/shm/bc-bench", help="scratch directory (tmpfs is best)")
    parser.add_argument("--contenders", default="raw,manual,ours,ours-zstd",
                        help="comma-separated subset of raw, manual, ours, ours-zstd (raw always runs)")
    parser.add_argument("--timelines", help="save each run's dump progress events (seconds, done, total) here")
    parser.add_argument("--data", choices=("default", "hard"), default="default",
                        help="hard: about half the bytes random base64 text (compresses poorly)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tempfile.tempdir = str(out)  # the cluster's data directory goes on the same tmpfs
    from console.kinds.postgres.client import find_tool
    from tests.servers import PgCluster

    pg_dump = find_tool("pg_dump").path
    cluster = PgCluster(extra_conf={"shared_buffers": "'256MB'"}).init().start()
    try:
        started = time.perf_counter()
        db_size = build_database(cluster, args.scale, args.data)
        print(f"# database: {db_size / 1e9:.2f} GB, built in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        target = f"host={cluster.host} port={cluster.port} user={cluster.user} dbname=bench"
        timelines = Path(args.timelines) if args.timelines else None
        if timelines is not None:
            timelines.mkdir(parents=True, exist_ok=True)
        every = {
            "raw": ("raw `pg_dump -Fc -Z0` (floor)", lambda: contender_raw(pg_dump, target, out)),
            "manual": ("manual: `-Fc -Z9`, then `-Fp`, then `gzip -9`", lambda: contender_manual(pg_dump, target, out)),
            "ours": ("ours, default (.dump.zst zstd-1 + .sql.gz ISA-L gzip-1)",
                     lambda: contender_ours(cluster, out, "gzip", timelines)),
            "ours-zstd": ("ours, sql_compression: zstd (.dump.zst + .sql.zst, zstd-1)",
                          lambda: contender_ours(cluster, out, "zstd", timelines)),
        }
        wanted = {"raw", *args.contenders.split(",")}
        contenders = dict(every[key] for key in every if key in wanted)
        contender_raw(pg_dump, target, out)  # warm the cache
        samples: dict[str, list[tuple[float, int, dict[str, int]]]] = {name: [] for name in contenders}
        for round_no in range(args.runs):  # round-robin, so every contender sees the same machine load
            for name, run in contenders.items():
                samples[name].append(run())
                print(f"# round {round_no + 1}: {name}: {samples[name][-1][0]:.1f} s", file=sys.stderr)
        rows = []
        for name, taken in samples.items():
            seconds = statistics.median(sample[0] for sample in taken)
            rows.append((name, seconds, max(sample[1] for sample in taken), taken[-1][2]))
            print(f"# {name}: runs " + ", ".join(f"{sample[0]:.1f}" for sample in taken) + " s", file=sys.stderr)
        raw_seconds = rows[0][1]
        print(f"\nDatabase: {db_size / 1e9:.2f} GB (pg_database_size), data {args.data}, scale {args.scale}, {args.runs} run(s) each, "
              f"outputs on {out}\n")
        print("| pipeline | time | x raw | custom dump | SQL dump | peak RSS |")
        print("|---|---|---|---|---|---|")
        for name, seconds, rss, sizes in rows:
            custom = f"{sizes['custom'] / 1e6:.0f} MB" if "custom" in sizes else "-"
            sql = f"{sizes['sql'] / 1e6:.0f} MB" if "sql" in sizes else "-"
            print(f"| {name} | {seconds:.1f} s | {seconds / raw_seconds:.2f} | {custom} | {sql} | {rss / 1024:.0f} MB |")
    finally:
        cluster.destroy()
        if not os.environ.get("BENCH_KEEP"):
            for child in out.glob("*"):
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
