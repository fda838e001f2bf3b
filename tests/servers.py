"""Private, throw-away service instances for the tests: PostgreSQL clusters, redis-servers,
a hanging TCP endpoint, and helpers for the machine's RabbitMQ management API.

Nothing here is a mock: each class starts the real server binary on a free loopback port.
"""

from __future__ import annotations

import atexit
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest


def require_binary(name: str) -> str:
    """The path of a binary; a missing one skips locally and fails on CI (a skip must not hide it)."""
    for candidate in (shutil.which(name), *(str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}")))):
        if candidate and Path(candidate).exists():
            return candidate
    message = f"{name} is not installed (bash .ci/test installs it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
    raise AssertionError("unreachable")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def _as_postgres_user(argv: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the postgres user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


_TEMPLATE_DATA: dict[tuple[str, str], Path] = {}


def _initdb_template(initdb: str, user: str) -> Path:
    """The data directory of one initdb run per test process (per xdist worker), removed at exit."""
    key = (initdb, user)
    if key not in _TEMPLATE_DATA:
        base = Path(tempfile.mkdtemp(prefix="bc-pg-template-"))
        if os.geteuid() == 0:
            os.chown(base, pwd.getpwnam("postgres").pw_uid, pwd.getpwnam("postgres").pw_gid)
        os.chmod(base, 0o755)
        data = base / "data"
        subprocess.run(_as_postgres_user([initdb, "-D", str(data), "-A", "trust", "-U", user, "-E", "UTF8",
                                          "--locale=C", "--no-sync"]), check=True, capture_output=True)
        atexit.register(shutil.rmtree, base, True)
        _TEMPLATE_DATA[key] = data
    return _TEMPLATE_DATA[key]


class PgCluster:
    """A private PostgreSQL cluster (initdb + pg_ctl) on a free port, trust auth on loopback."""

    def __init__(self, extra_conf: dict[str, str] | None = None) -> None:
        self.initdb = require_binary("initdb")
        self.pg_ctl = require_binary("pg_ctl")
        self.base = Path(tempfile.mkdtemp(prefix="bc-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self.port = free_port()
        self.host = "127.0.0.1"
        self.user = "postgres"
        self.extra_conf = extra_conf or {}
        if os.geteuid() == 0:
            uid, gid = pwd.getpwnam("postgres").pw_uid, pwd.getpwnam("postgres").pw_gid
            os.chown(self.base, uid, gid)
        os.chmod(self.base, 0o755)

    def init(self) -> PgCluster:
        # A copy of this process's one initdb: initdb takes 1-3.5 s on two shared cores, cp -a of
        # its never-started data directory about 0.1 s; the copy is the same fresh cluster.
        template = _initdb_template(self.initdb, self.user)
        subprocess.run(_as_postgres_user(["cp", "-a", str(template), str(self.data)]), check=True, capture_output=True)
        conf = {"listen_addresses": "'127.0.0.1'", "port": str(self.port), "unix_socket_directories": f"'{self.base}'",
                "fsync": "off", "full_page_writes": "off", "synchronous_commit": "off", **self.extra_conf}
        with open(self.data / "postgresql.conf", "a") as handle:
            for key, value in conf.items():
                handle.write(f"{key} = {value}\n")
        return self

    def start(self) -> PgCluster:
        subprocess.run(_as_postgres_user([self.pg_ctl, "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start"]),
                       check=True, capture_output=True)
        return self

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(_as_postgres_user([self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop"]),
                       capture_output=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)

    def connect(self, dbname: str = "postgres", autocommit: bool = True):  # noqa: ANN201
        import psycopg

        return psycopg.connect(host=self.host, port=self.port, user=self.user, dbname=dbname, autocommit=autocommit)

    def create_database(self, name: str) -> str:
        with self.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def overrides(self, dbname: str = "postgres") -> dict[str, object]:
        return {"postgres.host": self.host, "postgres.port": self.port, "postgres.user": self.user,
                "postgres.database": dbname}


class RedisServer:
    """A private redis-server on a free port with its own dir (so RDB and AOF files exist)."""

    def __init__(self, password: str | None = None, appendonly: bool = True, extra: dict[str, str] | None = None) -> None:
        self.binary = require_binary("redis-server")
        self.dir = Path(tempfile.mkdtemp(prefix="bc-redis-"))
        self.port = free_port()
        self.password = password
        self.appendonly = appendonly
        self.extra = extra or {}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        # repl-diskless-sync-delay 0: Redis 7 otherwise waits 5 s for more replicas before every
        # diskless transfer (redis-cli --rdb, a replica's sync); a test's own ``extra`` still wins.
        conf = {"port": str(self.port), "bind": "127.0.0.1", "dir": str(self.dir), "save": '""',
                "appendonly": "yes" if self.appendonly else "no", "daemonize": "no",
                "logfile": str(self.dir / "redis.log"), "repl-diskless-sync-delay": "0", **self.extra}
        if self.password:
            conf["requirepass"] = self.password  # in the config file, so it is on no argv
        conf_path = self.dir / "redis.conf"
        conf_path.write_text("".join(f"{key} {value}\n" for key, value in conf.items()))
        self.process = subprocess.Popen([self.binary, str(conf_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)
        return self

    def client(self, **kwargs):  # noqa: ANN201
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, **kwargs)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def overrides(self) -> dict[str, object]:
        values: dict[str, object] = {"redis.host": "127.0.0.1", "redis.port": self.port}
        if self.password:
            values["redis.password"] = self.password
        return values


class HangingServer:
    """Accepts TCP connections and never answers: what a wedged service looks like."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
                self._conns.append(conn)
            except OSError:
                continue

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for conn in self._conns:
            conn.close()
        self.sock.close()


RABBIT_API = os.environ.get("BC_TEST_RABBITMQ_API", "http://127.0.0.1:15672")
RABBIT_AUTH = ("guest", "guest")


def rabbit_api_available() -> bool:
    import requests

    try:
        return requests.get(f"{RABBIT_API}/api/overview", auth=RABBIT_AUTH, timeout=3).status_code == 200
    except requests.RequestException:
        return False
