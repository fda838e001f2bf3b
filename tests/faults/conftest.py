"""Fault-suite fixtures: the console run as a real process (so it can be SIGKILLed), secret
canaries in every credential, an argv watcher and a search for the canaries afterwards.

A canary is a unique string used as a real credential (the PostgreSQL role's password, Redis's
requirepass, the S3 secret key, the encryption key) or, where the service would not accept it,
as a configured secret the console must still keep to itself (the RabbitMQ password of a URL).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

from tests.postgres_fixtures import password_cluster_role, pg_seed_template, seeded_db  # noqa: F401
from tests.canary import decompressed
from tests.servers import PgCluster

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Canaries:
    """One unique secret per credential; none of them may appear anywhere the console writes."""

    postgres: str = f"pgCANARY{uuid.uuid4().hex[:12]}"
    redis: str = f"redisCANARY{uuid.uuid4().hex[:12]}"
    rabbitmq: str = f"rabbitCANARY{uuid.uuid4().hex[:12]}"
    s3: str = f"s3CANARY{uuid.uuid4().hex[:12]}"
    encryption: str = f"encCANARY{uuid.uuid4().hex[:12]}"

    def all(self) -> dict[str, str]:
        return {"postgres": self.postgres, "redis": self.redis, "rabbitmq": self.rabbitmq, "s3": self.s3,
                "encryption": self.encryption}


CANARIES = Canaries()
FIGURES: dict[str, int] = {"faults_injected": 0, "faults_survived": 0, "canary_places": 0, "canary_hits": 0,
                           "argv_samples": 0}
"""Counted by the suite and written to the session's terminal summary (docs/faults.md quotes them)."""


def count_fault(survived: bool = True) -> None:
    FIGURES["faults_injected"] += 1
    FIGURES["faults_survived"] += int(survived)


class ArgvWatcher:
    """Polls every process's argv (/proc/*/cmdline) while faults run; any canary there is a hit."""

    def __init__(self) -> None:
        self.hits: list[tuple[int, str]] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> ArgvWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        FIGURES["argv_samples"] += self.samples

    def _poll(self) -> None:
        secrets = [value.encode() for value in CANARIES.all().values()]
        while not self._stop.is_set():
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    argv = (entry / "cmdline").read_bytes()
                except OSError:
                    continue
                if any(secret in argv for secret in secrets):
                    self.hits.append((int(entry.name), argv.replace(b"\0", b" ").decode(errors="replace")))
            self.samples += 1
            self._stop.wait(0.02)


def canary_hits(*places: Path | str) -> list[str]:
    """Every file under ``places`` (files decompressed) and every string given that holds a canary."""
    hits: list[str] = []
    secrets = CANARIES.all()
    for place in places:
        FIGURES["canary_places"] += 1
        if isinstance(place, str):
            hits += [f"text: {name}" for name, secret in secrets.items() if secret in place]
            continue
        paths = [place] if place.is_file() else [p for p in place.rglob("*") if p.is_file() and not p.is_symlink()]
        for path in paths:
            try:
                data = path.read_bytes()
            except OSError:
                continue
            plain = decompressed(data)
            hits += [f"{path}: {name}" for name, secret in secrets.items()
                     if secret.encode() in data or secret.encode() in plain]
    FIGURES["canary_hits"] += len(hits)
    return hits


@dataclass
class Run:
    code: int
    out: str
    err: str


@dataclass
class Console:
    """The real ``backup-console`` command in a child process, with the fault suite's environment."""

    env: dict[str, str]
    outputs: list[str] = field(default_factory=list)

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "console.cli", *args]

    def run(self, *args: str, timeout: float = 120, env: dict[str, str] | None = None) -> Run:
        done = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                              env={**self.env, **(env or {})})
        self.outputs += [done.stdout, done.stderr]
        return Run(done.returncode, done.stdout, done.stderr)

    def spawn(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        """Start a run in its own process group, so SIGKILL reaches the console and its children."""
        return subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                                env={**self.env, **(env or {})}, start_new_session=True)

    def finish(self, process: subprocess.Popen[str], timeout: float = 120) -> Run:
        out, err = process.communicate(timeout=timeout)
        self.outputs += [out, err]
        return Run(process.returncode, out, err)


def kill_group(process: subprocess.Popen[str]) -> None:
    """SIGKILL the console and every child it started (a crash, an OOM kill, a power cut of the process)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(10)


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


@pytest.fixture
def base_env(tmp_path: Path, backup_dir: Path) -> dict[str, str]:
    """The child's environment: only what the console needs, plus canaries in every credential."""
    env = {key: os.environ[key] for key in ("PATH", "LANG", "TZ") if key in os.environ}
    env.update({"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "home" / ".config"),
                "BACKUP_DIR": str(backup_dir), "BACKUP_ENCRYPTION_KEY": CANARIES.encryption,
                "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": CANARIES.s3,
                "AWS_DEFAULT_REGION": "us-east-1", "TMPDIR": str(tmp_path / "tmp"), "PYTHONPATH": str(ROOT)})
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return env


@pytest.fixture(scope="session")
def canary_pg_role(pg_cluster: PgCluster) -> str:
    """A superuser that must log in with the PostgreSQL canary as its password."""
    user = f"bc_canary_{uuid.uuid4().hex[:6]}"
    password_cluster_role(pg_cluster, user, CANARIES.postgres)
    return user


@pytest.fixture
def console_pg(base_env: dict[str, str], pg_cluster: PgCluster, canary_pg_role: str) -> Console:
    env = {**base_env, "POSTGRES_HOST": pg_cluster.host, "POSTGRES_PORT": str(pg_cluster.port),
           "POSTGRES_USER": canary_pg_role, "POSTGRES_PASSWORD": CANARIES.postgres}
    return Console(env)


@pytest.fixture
def console(base_env: dict[str, str]) -> Console:
    return Console(dict(base_env))


@pytest.fixture(scope="session")
def rabbit_canary_user(rabbitmq_api: str) -> Iterator[str]:
    """An administrator whose password is the RabbitMQ canary."""
    import requests

    from tests.servers import RABBIT_AUTH

    name = f"bc-canary-{uuid.uuid4().hex[:6]}"
    requests.put(f"{rabbitmq_api}/api/users/{name}", auth=RABBIT_AUTH, timeout=10,
                 json={"password": CANARIES.rabbitmq, "tags": "administrator"}).raise_for_status()
    requests.put(f"{rabbitmq_api}/api/permissions/%2F/{name}", auth=RABBIT_AUTH, timeout=10,
                 json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
    yield name
    requests.delete(f"{rabbitmq_api}/api/users/{name}", auth=RABBIT_AUTH, timeout=10)


@dataclass
class Estate:
    """Every service the console backs up, each with a canary credential, and one set of each kind."""

    env: dict[str, str]
    """The services' part of the console's environment (no BACKUP_DIR, HOME or TMPDIR)."""
    template: Path
    """A BACKUP_DIR holding one good set of every kind (copied by each test that damages one)."""
    database: str
    redis: object
    cert_dir: Path
    source_dir: Path


@pytest.fixture(scope="session")
def estate(tmp_path_factory: pytest.TempPathFactory, pg_cluster: PgCluster, canary_pg_role: str,
           rabbit_canary_user: str) -> Iterator[Estate]:
    from tests.certs_fixtures import build_cert_tree
    from tests.servers import RedisServer

    base = tmp_path_factory.mktemp("estate")
    database = f"estate_{uuid.uuid4().hex[:8]}"
    pg_cluster.create_database(database)
    with pg_cluster.connect(database) as conn:
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO items SELECT g, md5(g::text) FROM generate_series(1, 2000) g")
    redis = RedisServer(password=CANARIES.redis).start()
    redis.client().mset({f"key:{n}": os.urandom(48).hex() for n in range(2000)})  # ~100 KB that does not compress
    cert_dir = base / "certs"
    build_cert_tree(cert_dir)
    source = base / "app"
    (source / "conf").mkdir(parents=True)
    (source / "conf" / "app.yaml").write_text("listen: 8080\n")
    (source / ".env").write_text("DATABASE_URL=postgres://app@db/app\n")
    (source / "conf" / "blob.bin").write_bytes(os.urandom(48 * 1024))
    env = {"POSTGRES_HOST": pg_cluster.host, "POSTGRES_PORT": str(pg_cluster.port), "POSTGRES_USER": canary_pg_role,
           "POSTGRES_PASSWORD": CANARIES.postgres, "POSTGRES_DB": database, "REDIS_HOST": "127.0.0.1",
           "REDIS_PORT": str(redis.port), "REDIS_PASSWORD": CANARIES.redis, "RABBITMQ_USER": rabbit_canary_user,
           "RABBITMQ_PASSWORD": CANARIES.rabbitmq, "CERT_DIR": str(cert_dir)}
    config = base / "backup-console.yaml"
    config.write_text(f"timeout_seconds: 5\nconfig_backup:\n  source_dir: {source}\n")
    env["BACKUP_CONSOLE_CONFIG"] = str(config)
    template = base / "backups"
    child = {key: os.environ[key] for key in ("PATH", "LANG") if key in os.environ}
    child.update(env, BACKUP_DIR=str(template), BACKUP_ENCRYPTION_KEY=CANARIES.encryption, HOME=str(base),
                 AWS_SECRET_ACCESS_KEY=CANARIES.s3, AWS_ACCESS_KEY_ID="testing", PYTHONPATH=str(ROOT))
    maker = Console(child)
    for kind in ("postgres", "redis", "rabbitmq", "config", "certs"):
        done = maker.run("backup", kind)
        assert done.code == 0, f"backup {kind}: {done.err}"
    yield Estate(env, template, database, redis, cert_dir, source)
    redis.destroy()
    with pg_cluster.connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs of its own (a real file system that fills up); skipped where mounting is not allowed."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'not root'}): disk-full faults not run")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def fill(directory: Path, leave: int) -> Path:
    """Fill ``directory``'s file system until ``leave`` bytes are free; returns the filler file."""
    filler = directory / "filler.bin"
    free = os.statvfs(directory).f_bavail * os.statvfs(directory).f_frsize
    with open(filler, "wb") as handle:
        remaining = max(0, free - leave)
        while remaining > 0:
            remaining -= handle.write(b"\0" * min(remaining, 1 << 20))
    return filler


@pytest.fixture
def estate_console(estate: Estate, base_env: dict[str, str], backup_dir: Path) -> Console:
    """The console pointed at every service, with a BACKUP_DIR that starts as a copy of the estate's sets."""
    import shutil

    shutil.copytree(estate.template, backup_dir, symlinks=True)
    return Console({**base_env, **estate.env})


def sets_of(backup_dir: Path, kind: str) -> list[Path]:
    """The files of ``kind`` under ``backup_dir`` (one set each in the estate's template)."""
    return sorted(p for p in (backup_dir / kind).rglob("*") if p.is_file())


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ANN001
    if FIGURES["faults_injected"] or FIGURES["canary_places"]:
        terminalreporter.write_line("fault suite: " + ", ".join(f"{key}={value}" for key, value in FIGURES.items()))
