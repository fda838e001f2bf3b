"""Shared fixtures: real services on loopback, and a test environment free of the developer's own."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest


def _scratch_on_tmpfs() -> None:
    """Every scratch directory of the run (tmp_path, private clusters, redis dirs) on tmpfs.

    On this machine kind's disk an initdb takes 4.5 s and copying its 39 MB 2 s; on /dev/shm
    1.5 s and 0.25 s. The services stay real; only where their files live changes. Set at import,
    before pytest picks its base temp directory; an explicit TMPDIR is left alone.
    """
    import shutil
    import tempfile

    shm = Path("/dev/shm")
    if os.environ.get("TMPDIR") or not shm.is_dir() or not os.access(shm, os.W_OK):
        return
    if shutil.disk_usage(shm).free < 4 * 1024**3:
        return
    scratch = shm / f"bc-tests-{os.getuid()}"
    scratch.mkdir(mode=0o700, exist_ok=True)
    os.chmod(scratch, 0o711)  # the postgres user (initdb runs as it under root) must reach its dirs
    os.environ["TMPDIR"] = str(scratch)  # children (the CLI under test, redis-server) too
    tempfile.tempdir = str(scratch)


_scratch_on_tmpfs()


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto`` (README's command, capped by ``--maxprocesses=4``): two workers per CPU.

    A worker of this suite waits about half its time on something else than its own CPU (the
    PostgreSQL and Redis servers it drives, pg_ctl, the CLI child processes, the one-second
    stamps), so one per CPU left the cores idle. PYTEST_XDIST_AUTO_NUM_WORKERS still wins, and
    an explicit ``-n N`` is untouched."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return 2 * cpus


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection loaded (Textual, moto, hypothesis, every test module) lives for the whole run:
    freeze it, so the collector's full passes, frequent in Pilot tests, stop walking it each time."""
    import gc

    gc.freeze()

from tests.servers import RABBIT_API, RABBIT_AUTH, HangingServer, PgCluster, RedisServer, free_port, rabbit_api_available

MANUAL_ENV = ("POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_USER", "POSTGRES_DB", "POSTGRES_PASSWORD", "REDIS_HOST",
              "REDIS_PORT", "REDIS_PASSWORD", "RABBITMQ_HOST", "RABBITMQ_USER", "RABBITMQ_PASSWORD", "BACKUP_DIR",
              "BACKUP_S3_BUCKET", "BACKUP_ENCRYPTION_KEY", "BACKUP_RETENTION_DAYS", "LOCAL_RETENTION_DAYS",
              "S3_RETENTION_DAYS", "CERT_DIR", "BACKUP_CONSOLE_CONFIG", "PGPASSWORD", "PGPASSFILE", "REDISCLI_AUTH",
              "AWS_PROFILE", "AWS_ENDPOINT_URL", "NO_COLOR")


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep the developer's config, HOME and manual variables out of every test."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    for name in MANUAL_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def backup_dir(tmp_path: Path) -> Path:
    return tmp_path / "backups"


@pytest.fixture
def make_settings(backup_dir: Path) -> Callable[..., Any]:
    """Build Settings for a test: ``make_settings(pg.overrides(), **{"redis.port": 1})``."""
    from console.config import load_settings

    def build(*override_maps: dict[str, object], **overrides: object) -> Any:
        values: dict[str, object] = {"backup_dir": str(backup_dir), "timeout_seconds": 2.0}
        for mapping in override_maps:
            values.update(mapping)
        values.update({key.replace("__", "."): value for key, value in overrides.items()})
        return load_settings(None, env={}, overrides=values)

    return build


# --- PostgreSQL -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One private cluster for the session; tests use their own databases in it."""
    cluster = PgCluster().init().start()
    yield cluster
    cluster.destroy()


@pytest.fixture
def pg_database(pg_cluster: PgCluster) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:10]}"
    pg_cluster.create_database(name)
    yield name
    with pg_cluster.connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def own_pg_cluster() -> Iterator[PgCluster]:
    """A cluster the test may stop, restart or reconfigure."""
    cluster = PgCluster().init().start()
    yield cluster
    cluster.destroy()


# --- Redis ------------------------------------------------------------------------------------


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.destroy()


@pytest.fixture
def make_redis_server() -> Iterator[Callable[..., RedisServer]]:
    started: list[RedisServer] = []

    def start(**kwargs: Any) -> RedisServer:
        server = RedisServer(**kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.destroy()


# --- RabbitMQ ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def rabbitmq_api() -> str:
    if not rabbit_api_available():
        message = f"RabbitMQ management API not reachable at {RABBIT_API} (bash .ci/test starts it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return RABBIT_API


@pytest.fixture
def rabbitmq_vhost(rabbitmq_api: str) -> Iterator[str]:
    """A throw-away vhost on the machine's broker, with full permissions for guest."""
    import requests
    from urllib.parse import quote

    name = f"bc-test-{uuid.uuid4().hex[:8]}"
    quoted = quote(name, safe="")
    requests.put(f"{rabbitmq_api}/api/vhosts/{quoted}", auth=RABBIT_AUTH, timeout=10).raise_for_status()
    requests.put(f"{rabbitmq_api}/api/permissions/{quoted}/guest", auth=RABBIT_AUTH, timeout=10,
                 json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
    yield name
    requests.delete(f"{rabbitmq_api}/api/vhosts/{quoted}", auth=RABBIT_AUTH, timeout=10)


# --- S3 (moto's real HTTP server on loopback) -------------------------------------------------


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_canary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """The S3 secret key is a unique canary for this test: afterwards no file the test left holds it."""
    from tests.canary import file_hits

    secret = f"s3CANARY{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    yield secret
    assert file_hits(secret, tmp_path) == [], "the S3 secret key was written to disk"


@pytest.fixture
def s3_bucket(s3_endpoint: str, s3_canary: str) -> Iterator[dict[str, object]]:
    """A fresh bucket; yields the settings overrides pointing at it. No object in it may hold the S3 secret."""
    import boto3

    from tests.canary import bucket_hits

    name = f"bc-test-{uuid.uuid4().hex[:8]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=name)
    yield {"s3.bucket": name, "s3.endpoint_url": s3_endpoint, "s3.region": "us-east-1"}
    assert bucket_hits(s3_canary, client, name) == [], "the S3 secret key was uploaded"


# --- faults -----------------------------------------------------------------------------------


@pytest.fixture
def hanging_server() -> Iterator[HangingServer]:
    server = HangingServer()
    yield server
    server.close()


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run the test with TZ=UTC, so stamps parsed as local time give the same dates everywhere."""
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()
