"""Many instances against real services, through the CLI as cron runs it: three PostgreSQL clusters
(one down, one with two databases), two redis-servers (one with a password from a file), RabbitMQ as
two instances (two vhosts), two certificate trees, a configuration tree; backup, status, verify,
retention and restore of non-default instances, and the default instance's manual layout unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import requests

from tests.certs_fixtures import build_cert_tree
from tests.clock import next_second
from tests.servers import RABBIT_AUTH, PgCluster, free_port

BIN = [sys.executable, "-m", "console.cli"]
QUEUE_PASSWORD = "queue-secret-7f3a"


def run(config: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("POSTGRES_", "REDIS_", "RABBITMQ_", "BACKUP_", "CERT_DIR", "CONFIG_SOURCE_DIR"))}
    return subprocess.run([*BIN, "--config", str(config), *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def seed(cluster: PgCluster, database: str, rows: int) -> None:
    cluster.create_database(database)
    with psycopg.connect(host="127.0.0.1", port=cluster.port, user=cluster.user, dbname=database, autocommit=True) as conn:
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, label text)")
        conn.execute("INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, %s) g", (rows,))


def count(cluster: PgCluster, database: str) -> int:
    with psycopg.connect(host="127.0.0.1", port=cluster.port, user=cluster.user, dbname=database) as conn:
        return conn.execute("SELECT count(*) FROM items").fetchone()[0]


@pytest.fixture
def fleet(tmp_path, pg_cluster, own_pg_cluster, make_redis_server, rabbitmq_api):
    """The configuration of a small platform, every service real."""
    seed(pg_cluster, "shop_main", 30)
    seed(pg_cluster, "billing_main", 12)
    seed(own_pg_cluster, "reports", 7)
    cache = make_redis_server()
    queue = make_redis_server(password=QUEUE_PASSWORD)
    cache.client().set("k", "cache-value")
    queue.client().set("k", "queue-value")
    password_file = tmp_path / "queue.pass"
    password_file.write_text(QUEUE_PASSWORD + "\n")
    password_file.chmod(0o600)
    vhosts = [f"bc-inst-{os.getpid()}-{name}" for name in ("a", "b")]
    for vhost in vhosts:
        requests.put(f"{rabbitmq_api}/api/vhosts/{vhost}", auth=RABBIT_AUTH, timeout=10).raise_for_status()
        requests.put(f"{rabbitmq_api}/api/permissions/{vhost}/guest", auth=RABBIT_AUTH, timeout=10,
                     json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
        requests.put(f"{rabbitmq_api}/api/queues/{vhost}/orders-{vhost[-1]}", auth=RABBIT_AUTH, timeout=10,
                     json={"durable": True}).raise_for_status()
    edge, internal = build_cert_tree(tmp_path / "certs-edge"), build_cert_tree(tmp_path / "certs-internal")
    app = tmp_path / "app"
    (app / "conf").mkdir(parents=True)
    (app / "conf" / "app.yaml").write_text("listen: 8080\n")
    backup_dir = tmp_path / "backups"
    config = tmp_path / "backup-console.yaml"
    config.write_text(f"""\
backup_dir: {backup_dir}
timeout_seconds: 5
max_parallel_backups: 2
encryption:
  key: {"k" * 32}
postgres:
  user: {pg_cluster.user}
  instances:
    main:      {{host: 127.0.0.1, port: {pg_cluster.port}, databases: [shop_main, billing_main], tags: {{env: prod}}}}
    analytics: {{host: 127.0.0.1, port: {own_pg_cluster.port}, databases: [reports], tags: {{env: prod}},
                 retention: {{min_keep: 1, local_days: 1}}}}
    broken:    {{host: 127.0.0.1, port: {free_port()}, databases: [nothing], tags: {{env: test}}}}
redis:
  instances:
    cache: {{host: 127.0.0.1, port: {cache.port}, data_dir: {cache.dir}}}
    queue: {{host: 127.0.0.1, port: {queue.port}, data_dir: {queue.dir}, password_file: {password_file}}}
rabbitmq:
  instances:
    a: {{vhost: {vhosts[0]}}}
    b: {{vhost: {vhosts[1]}}}
certs:
  instances:
    edge: {{cert_dir: {edge.root}}}
    internal: {{cert_dir: {internal.root}}}
config_backup:
  instances:
    app: {{source_dir: {app}}}
""")
    yield {"config": config, "backup_dir": backup_dir, "main": pg_cluster, "analytics": own_pg_cluster,
           "cache": cache, "queue": queue, "vhosts": vhosts, "app": app}
    for vhost in vhosts:
        requests.delete(f"{rabbitmq_api}/api/vhosts/{vhost}", auth=RABBIT_AUTH, timeout=10)
    for name in ("shop_main", "billing_main"):
        with pg_cluster.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_every_instance_backs_up_verifies_and_restores(fleet, tmp_path):
    config, backup_dir = fleet["config"], fleet["backup_dir"]

    # --all: the broken cluster fails, the other two (three databases) are backed up; exit 3 = partial
    proc = run(config, "backup", "postgres", "--all", "--json")
    assert proc.returncode == 3, proc.stderr
    results = {(r["instance"], r["target"]): r for r in json.loads(proc.stdout)["results"]}
    assert {key: r["status"] for key, r in results.items()} == {
        ("main", "shop_main"): "ok", ("main", "billing_main"): "ok", ("analytics", "reports"): "ok",
        ("broken", "nothing"): "failed"}
    assert results[("analytics", "reports")]["set_id"].startswith("postgres/analytics/reports/")
    assert sorted(p.name for p in (backup_dir / "postgres@main").glob("backup_*.dump.zst")) \
        == sorted(f"backup_{db}_{r['set_id'].rsplit('/', 1)[1]}.dump.zst"
                  for (inst, db), r in results.items() if inst == "main")
    assert not (backup_dir / "postgres").exists(), "no instance is called default: nothing in the manual's dir"

    for target in ("redis/cache", "redis/queue", "rabbitmq/b", "certs/internal", "config/app"):
        proc = run(config, "backup", target, "--json")
        assert proc.returncode == 0, (target, proc.stderr)
        assert json.loads(proc.stdout)["instance"] == target.split("/")[1]
    assert (backup_dir / "redis@queue").is_dir() and (backup_dir / "certs@internal").is_dir()

    # a kind with several instances and none named is a usage error naming them
    proc = run(config, "backup", "redis")
    assert proc.returncode == 2 and "redis has 2 instances (cache, queue)" in proc.stderr

    # status: every instance probed, the broken one DOWN, backups named by instance; secrets never shown
    proc = run(config, "status", "--json")
    document = json.loads(proc.stdout)
    states = {(s["name"], s["instance"]): s["state"] for s in document["services"]}
    assert states[("postgres", "broken")] == "down" and states[("postgres", "main")] == "up"
    assert states[("redis", "queue")] == "up" and states[("rabbitmq", "b")] == "up"
    assert proc.returncode == 1
    backed_up = {(b["kind"], b["instance"], b["name"]) for b in document["last_backups"]}
    assert ("postgres", "analytics", "reports") in backed_up and ("redis", "queue", "redis") in backed_up
    assert QUEUE_PASSWORD not in proc.stdout + proc.stderr

    # verify one instance, then all
    proc = run(config, "verify", "--kind", "redis/queue", "--json")
    assert proc.returncode == 0, proc.stderr
    assert [s["set_id"].split("/")[1] for s in json.loads(proc.stdout)["sets"]] == ["queue"]
    proc = run(config, "verify", "--json")
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert {s["status"] for s in json.loads(proc.stdout)["sets"]} <= {"passed", "warning"}

    # restore a non-default instance's set into its own cluster, by the KIND/INSTANCE/DB/STAMP id
    set_id = results[("analytics", "reports")]["set_id"]
    proc = run(config, "restore", set_id, "--target-db", "reports_copy", "--create", "--json")
    assert proc.returncode == 0, proc.stderr
    assert count(fleet["analytics"], "reports_copy") == 7

    # redis/queue's snapshot restored into a fresh data dir holds the queue's key, not the cache's
    redis_set = next(b["set_id"] for b in document["last_backups"] if b["kind"] == "redis" and b["instance"] == "queue")
    restored = tmp_path / "restored-redis"
    restored.mkdir()
    proc = run(config, "restore", redis_set, "--data-dir", str(restored), "--verify-load", "--json")
    assert proc.returncode == 0, proc.stderr

    # config/app restored elsewhere is byte for byte the tree
    config_set = next(b["set_id"] for b in document["last_backups"] if b["kind"] == "config")
    proc = run(config, "restore", config_set, "--to", str(tmp_path / "restored-app"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "restored-app" / "conf" / "app.yaml").read_text() == "listen: 8080\n"

    # rabbitmq/b's definitions brought back into its own vhost after its queue was deleted
    vhost_b = fleet["vhosts"][1]
    api = "http://127.0.0.1:15672/api"
    requests.delete(f"{api}/queues/{vhost_b}/orders-b", auth=RABBIT_AUTH, timeout=10).raise_for_status()
    rabbit_set = next(b["set_id"] for b in document["last_backups"] if b["kind"] == "rabbitmq")
    assert rabbit_set.startswith("rabbitmq/b/")
    proc = run(config, "restore", rabbit_set, "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    assert requests.get(f"{api}/queues/{vhost_b}/orders-b", auth=RABBIT_AUTH, timeout=10).status_code == 200
    assert requests.get(f"{api}/queues/{vhost_b}/orders-a", auth=RABBIT_AUTH, timeout=10).status_code == 404

    # certs/internal restored elsewhere holds that tree's files
    certs_set = next(b["set_id"] for b in document["last_backups"] if b["kind"] == "certs")
    assert certs_set.startswith("certs/internal/")
    proc = run(config, "restore", certs_set, "--to", str(tmp_path / "restored-certs"))
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "restored-certs").rglob("*.crt")) \
        == sorted(p.name for p in (tmp_path / "certs-internal").rglob("*.crt"))

    # the run log names the instance of every run
    runs = [json.loads(line) for line in (backup_dir / ".runs" / "runs.jsonl").read_text().splitlines()]
    assert {(r["kind"], r["instance"]) for r in runs if r["action"] == "backup"} >= {
        ("postgres", "broken"), ("postgres", "analytics"), ("redis", "queue"), ("certs", "internal")}


def test_retention_follows_each_instance_own_rules(fleet):
    config, backup_dir = fleet["config"], fleet["backup_dir"]
    for _ in range(2):
        proc = run(config, "backup", "postgres/analytics", "--json")
        assert proc.returncode == 0, proc.stderr
        next_second()  # two distinct stamps
    directory = backup_dir / "postgres@analytics"
    older = sorted({p.name.split("_", 2)[2][:15] for p in directory.glob("backup_reports_*")})[0]
    aged = "20200101_020000"
    for path in list(directory.rglob(f"*{older}*")):
        path.rename(path.with_name(path.name.replace(older, aged)))

    proc = run(config, "retention", "plan", "--local-only", "--json")
    assert proc.returncode == 0, proc.stderr
    local = json.loads(proc.stdout)["local"]
    removed = [d["set_id"] for d in local["remove"]]
    assert removed == [f"postgres/analytics/reports/{aged}"]  # min_keep 1 and 1 day are analytics' own

    proc = run(config, "retention", "apply", "--local-only", "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    assert not list(directory.rglob(f"*{aged}*")) and len(list(directory.glob("backup_reports_*.dump.zst"))) == 1


def test_default_instance_keeps_the_manual_layout(tmp_path, pg_cluster, make_redis_server):
    """No `instances:`: the manual's environment variables, BACKUP_DIR/<kind>/ and set ids unchanged."""
    server = make_redis_server()
    backup_dir = tmp_path / "b"
    env = {**os.environ, "BACKUP_DIR": str(backup_dir), "REDIS_PORT": str(server.port)}
    proc = subprocess.run([*BIN, "backup", "redis", "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["instance"] == "default" and result["set_id"].count("/") == 1
    assert list((backup_dir / "redis").glob("snapshot_*.rdb.gz")) and not list(backup_dir.glob("redis@*"))
