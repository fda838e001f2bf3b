"""Many instances: `status --json` over 20 instances (one hanging, three down), and
`backup postgres --all` of five small clusters, one at a time vs the default concurrency.

    .venv/bin/python bench/instances.py [--clusters 5] [--rows 200000] [--runs 3]

Everything runs as the CLI runs from cron: a fresh Python process per command. The clusters are
private (initdb + pg_ctl on free ports, as the tests start them); the hanging "server" accepts
TCP connections and never answers. Figures go in bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.servers import HangingServer, PgCluster, RedisServer, free_port  # noqa: E402

BIN = [sys.executable, "-m", "console.cli"]


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
    return time.perf_counter() - started, proc


def status_config(path: Path, backup_dir: Path, pg: PgCluster, redis: RedisServer, hanging: int, timeout: float) -> None:
    """Twenty instances: 8 PostgreSQL (one hanging, two refused), 8 Redis (one refused), 4 RabbitMQ."""
    down = [free_port() for _ in range(3)]
    postgres = {f"pg{i}": {"host": "127.0.0.1", "port": pg.port} for i in range(5)}
    postgres |= {"pg-hang": {"host": "127.0.0.1", "port": hanging},
                 "pg-down1": {"host": "127.0.0.1", "port": down[0]}, "pg-down2": {"host": "127.0.0.1", "port": down[1]}}
    redis_instances = {f"r{i}": {"host": "127.0.0.1", "port": redis.port} for i in range(7)}
    redis_instances |= {"r-down": {"host": "127.0.0.1", "port": down[2]}}
    rabbit = {f"mq{i}": {} for i in range(4)}
    document = {"backup_dir": str(backup_dir), "timeout_seconds": timeout,
                "postgres": {"user": pg.user, "instances": postgres}, "redis": {"instances": redis_instances},
                "rabbitmq": {"instances": rabbit}}
    path.write_text(json.dumps(document))  # JSON is YAML


def backup_config(path: Path, backup_dir: Path, clusters: list[PgCluster], parallel: int) -> None:
    document = {"backup_dir": str(backup_dir), "max_parallel_backups": parallel,
                "postgres": {"user": clusters[0].user, "sql_compression": "zstd",
                             "instances": {f"db{i}": {"host": "127.0.0.1", "port": c.port, "databases": ["bench"]}
                                           for i, c in enumerate(clusters)}}}
    path.write_text(json.dumps(document))


def fill(cluster: PgCluster, rows: int) -> None:
    cluster.create_database("bench")
    with cluster.connect("bench") as conn:
        conn.execute("CREATE TABLE items (id bigint PRIMARY KEY, label text, payload text)")
        conn.execute("INSERT INTO items SELECT g, 'item ' || g, md5(g::text) || md5((g * 7)::text) "
                     "FROM generate_series(1, %s) g", (rows,))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clusters", type=int, default=5)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=3.0)
    options = parser.parse_args()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("POSTGRES_", "REDIS_", "RABBITMQ_", "BACKUP_"))}
    work = Path(tempfile.mkdtemp(prefix="bc-bench-instances-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    clusters = [PgCluster().init().start() for _ in range(options.clusters)]
    redis = RedisServer().start()
    hanging = HangingServer()
    try:
        config = work / "status.yaml"
        status_config(config, work / "b-status", clusters[0], redis, hanging.port, options.timeout)
        times = []
        for _ in range(options.runs):
            seconds, proc = timed([*BIN, "--config", str(config), "status", "--json"], env)
            document = json.loads(proc.stdout)
            states = [service["state"] for service in document["services"]]
            times.append(seconds)
        print(f"status --json, {len(states)} probes (20 instances + s3 + storage), timeout {options.timeout:g} s: "
              f"median {statistics.median(times):.2f} s (runs {', '.join(f'{t:.2f}' for t in times)}); states "
              + ", ".join(f"{state} {states.count(state)}" for state in sorted(set(states))))
        for cluster in clusters:
            fill(cluster, options.rows)
        results: dict[int, list[float]] = {1: [], 2: []}
        for run in range(options.runs):
            for parallel in (1, 2):  # round-robin: both see the same machine load
                config = work / f"backup-{parallel}.yaml"
                backup_config(config, work / f"b-{parallel}-{run}", clusters, parallel)
                seconds, proc = timed([*BIN, "--config", str(config), "backup", "postgres", "--all", "--json"], env)
                assert proc.returncode == 0, proc.stderr[-2000:]
                results[parallel].append(seconds)
        sequential, default = statistics.median(results[1]), statistics.median(results[2])
        print(f"backup postgres --all, {options.clusters} clusters x {options.rows} rows: "
              f"max_parallel_backups 1 median {sequential:.2f} s, 2 (default) median {default:.2f} s "
              f"({sequential / default:.2f}x)")
    finally:
        hanging.close()
        redis.destroy()
        for cluster in clusters:
            cluster.destroy()


if __name__ == "__main__":
    main()
