"""Servers killed mid-run, wrong keys, damaged artefacts of every kind, and what monitoring sends
about the failures: every failure is on record, alerted, and free of secrets."""

from __future__ import annotations

import json
import os
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from tests.faults.conftest import CANARIES, ArgvWatcher, Console, Estate, canary_hits, count_fault, sets_of, wait_for
from tests.servers import PgCluster, RedisServer, free_port

KINDS = ("postgres", "redis", "rabbitmq", "config", "certs")
PRIMARY = {"postgres": ".dump.zst", "redis": ".rdb.gz", "rabbitmq": ".json.gz.enc", "config": ".tar.gz",
           "certs": ".tar.gz.enc"}


def _runs(backup_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (backup_dir / ".runs" / "runs.jsonl").read_text().splitlines()]


def _partials(backup_dir: Path) -> list[Path]:
    return sorted(backup_dir.rglob("*.partial")) if backup_dir.exists() else []


def test_postgres_stopped_immediately_mid_backup(base_env: dict[str, str], own_pg_cluster: PgCluster,
                                                backup_dir: Path) -> None:
    from tests.postgres_fixtures import TableLock

    own_pg_cluster.create_database("shop")
    with own_pg_cluster.connect("shop") as conn:
        conn.execute("CREATE TABLE customers (id int)")
        conn.execute("INSERT INTO customers SELECT generate_series(1, 1000)")
    console = Console({**base_env, "POSTGRES_HOST": own_pg_cluster.host, "POSTGRES_PORT": str(own_pg_cluster.port),
                       "POSTGRES_USER": own_pg_cluster.user})
    lock = TableLock(own_pg_cluster, "shop")
    running = console.spawn("backup", "postgres", "--db", "shop", "--json")
    assert wait_for(lambda: bool(_partials(backup_dir)))
    own_pg_cluster.stop("immediate")
    count_fault()
    failed = console.finish(running)
    assert failed.code == 1, failed.err
    assert json.loads(failed.out)["status"] == "failed" and "Traceback" not in failed.err
    assert _runs(backup_dir)[-1]["status"] == "failed"
    assert not _partials(backup_dir) and not list((backup_dir / "postgres").glob("backup_*"))
    try:
        lock.conn.close()
    except Exception:  # noqa: BLE001 - the server under it is gone
        pass
    own_pg_cluster.start()
    again = console.run("backup", "postgres", "--db", "shop")
    assert again.code == 0, again.err


def test_redis_killed_mid_transfer(base_env: dict[str, str], backup_dir: Path, tmp_path: Path) -> None:
    server = RedisServer(password=CANARIES.redis).start()
    try:
        client = server.client()
        client.mset({f"k{n}": os.urandom(32).hex() for n in range(3000)})
        client.config_set("rdb-key-save-delay", 2000)  # 2 ms per key: the transfer lasts seconds
        # over the network (redis-cli --rdb), a save streamed with the same delay: a copy of the local
        # file would be done before the kill
        config = tmp_path / "network-rdb.yaml"
        config.write_text(f"redis:\n  data_dir: {tmp_path / 'not-mounted-here'}\n")
        console = Console({**base_env, "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(server.port),
                           "REDIS_PASSWORD": CANARIES.redis, "BACKUP_CONSOLE_CONFIG": str(config)})
        with ArgvWatcher() as watcher:
            running = console.spawn("backup", "redis", "--json", "--force", "--reason", "fault test")
            assert wait_for(lambda: bool(_partials(backup_dir)), timeout=30)
            server.process.kill()  # type: ignore[union-attr]
            server.process.wait()  # type: ignore[union-attr]
            count_fault()
            failed = console.finish(running)
        assert failed.code == 1, failed.err
        assert "Traceback" not in failed.err and json.loads(failed.out)["status"] == "failed"
        assert _runs(backup_dir)[-1]["status"] == "failed"
        assert not _partials(backup_dir) and not list((backup_dir / "redis").glob("snapshot_*"))
        assert watcher.hits == []
        server.start()
        server.client().config_set("rdb-key-save-delay", 0)
        again = console.run("backup", "redis", "--force", "--reason", "fault test")
        assert again.code == 0, again.err
        assert canary_hits(backup_dir, *console.outputs) == []
    finally:
        server.destroy()


def _bgsave_child(server: RedisServer) -> int | None:
    """The pid of the server's save child (a fork titled redis-rdb-bgsave), once it runs."""
    assert server.process is not None
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()
    for pid in children:
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"redis-rdb-bgsave"):  # its process title
                return int(pid)
        except FileNotFoundError:
            continue
    return None


def test_redis_bgsave_child_killed_mid_save(base_env: dict[str, str], backup_dir: Path) -> None:
    server = RedisServer(password=CANARIES.redis).start()
    try:
        client = server.client()
        client.mset({f"k{n}": os.urandom(32).hex() for n in range(3000)})
        console = Console({**base_env, "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(server.port),
                           "REDIS_PASSWORD": CANARIES.redis})
        first = console.run("backup", "redis", "--force", "--reason", "fault test")
        assert first.code == 0, first.err
        older = {path: path.read_bytes() for path in (backup_dir / "redis").rglob("*") if path.is_file()}
        client.config_set("rdb-key-save-delay", 2000)  # 2 ms per key: the save lasts seconds
        running = console.spawn("backup", "redis", "--json", "--force", "--reason", "fault test")
        assert wait_for(lambda: int(client.info("persistence")["rdb_bgsave_in_progress"]) == 1, timeout=30)
        assert wait_for(lambda: _bgsave_child(server) is not None, timeout=10)
        child = _bgsave_child(server)
        assert child is not None
        os.kill(child, 9)
        count_fault()
        failed = console.finish(running)
        assert failed.code == 1, failed.err
        document = json.loads(failed.out)
        assert document["status"] == "failed" and "Traceback" not in failed.err
        message = document["message"]
        assert "BGSAVE failed" in message and f"127.0.0.1:{server.port}" in message and "\n" not in message, message
        assert "killed" in json.dumps(document), document  # the hint names a likely cause (the OOM killer)
        record = _runs(backup_dir)[-1]
        assert record["status"] == "failed" and "BGSAVE" in record["message"]
        assert not _partials(backup_dir)
        now = {path: path.read_bytes() for path in (backup_dir / "redis").rglob("*") if path.is_file()}
        assert now == older  # nothing of the failed run, nothing older changed
        assert server.process is not None and server.process.poll() is None  # the server itself lives on
        client.config_set("rdb-key-save-delay", 0)
        again = console.run("backup", "redis", "--force", "--reason", "fault test")
        assert again.code == 0, again.err
        assert canary_hits(backup_dir, *console.outputs) == []
    finally:
        server.destroy()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_artefact_fails_verification_naming_it(estate_console: Console, backup_dir: Path, kind: str,
                                                          damage: str) -> None:
    path = next(p for p in sets_of(backup_dir, kind) if p.name.endswith(PRIMARY[kind]))
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))
    count_fault()
    done = estate_console.run("verify", "--json", "--kind", kind)
    assert done.code == 1, done.out
    report = json.loads(done.out)
    failed = [o for entry in report["sets"] for o in entry["checks"] if o["status"] == "failed"]
    assert any(o.get("file") == path.name for o in failed), failed


@pytest.mark.parametrize("key", ["wrong", "truncated"])
def test_a_wrong_key_fails_verification_and_restores_nothing(estate_console: Console, backup_dir: Path,
                                                             tmp_path: Path, key: str) -> None:
    bad = "not-the-key" if key == "wrong" else CANARIES.encryption[:-3]
    count_fault()
    verified = estate_console.run("verify", "--json", env={"BACKUP_ENCRYPTION_KEY": bad})
    assert verified.code == 1
    report = json.loads(verified.out)
    by_kind = {entry["set_id"].split("/")[0]: entry["status"] for entry in report["sets"]}
    assert by_kind["certs"] == "failed" and by_kind["rabbitmq"] == "failed" and by_kind["config"] == "failed"
    target = tmp_path / "restored-certs"
    archive = next(p for p in sets_of(backup_dir, "certs") if p.name.endswith(".enc"))
    restored = estate_console.run("restore", "certs", str(archive), "--to", str(target),
                                  env={"BACKUP_ENCRYPTION_KEY": bad})
    assert restored.code == 1 and "Traceback" not in restored.err
    assert not target.exists() or not any(target.iterdir())
    assert canary_hits(backup_dir, tmp_path / "tmp", *estate_console.outputs) == []


class _Webhook(BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 - the base class's name
        _Webhook.bodies.append(self.rfile.read(int(self.headers.get("content-length") or 0)))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def webhook() -> Iterator[str]:
    _Webhook.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def test_a_failed_run_is_alerted_and_nothing_monitoring_writes_holds_a_secret(
        estate: Estate, base_env: dict[str, str], backup_dir: Path, tmp_path: Path, webhook: str) -> None:
    shutil.copytree(estate.template, backup_dir)
    config = tmp_path / "monitor.yaml"
    config.write_text(Path(estate.env["BACKUP_CONSOLE_CONFIG"]).read_text() + f"alerts:\n  webhook_url: {webhook}\n")
    console = Console({**base_env, **estate.env, "BACKUP_CONSOLE_CONFIG": str(config),
                       "REDIS_PORT": str(free_port())})  # Redis is down for this run
    failed = console.run("backup", "redis", "--json")
    assert failed.code == 1
    count_fault()
    prometheus = tmp_path / "backup.prom"
    monitored = console.run("monitor", "--json", "--prometheus", str(prometheus))
    assert monitored.code == 1, monitored.err
    assert prometheus.is_file()
    bodies = b"\n".join(_Webhook.bodies).decode()
    assert "backup_failed" in bodies and "redis" in bodies
    assert canary_hits(backup_dir, prometheus, bodies, tmp_path / "tmp", tmp_path / "home", *console.outputs) == []
