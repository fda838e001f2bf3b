"""The one throw-away redis-server: loads restored or backed-up files and reports what it found.

Used by ``restore redis --verify-load`` and by ``verify --deep``. It listens on no TCP port at all,
only on a unix socket inside its scratch directory (made 0700), so no other user of the host can
read the data while it runs; it starts from a config file (nothing on its argv), saves nothing,
and is shut down with SHUTDOWN NOSAVE so it never rewrites the files it loaded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from console.childenv import child_env
from console.errors import UsageError, VerifyFailed
from console.progress import CancelToken, check_cancel

if TYPE_CHECKING:
    import redis  # imported by the functions below: the kind registry loads this module without redis-py


def load_in_throwaway_server(work_dir: Path, aof_dir: str | None, timeout: float,
                             cancel: CancelToken | None = None) -> tuple[str, dict[str, int]]:
    """Start redis-server on ``work_dir`` (RDB, or the AOF when ``aof_dir`` is not None), wait
    until it has loaded, and return (version, keys per db).

    Args:
        aof_dir: "" for a single appendonly.aof, a directory name for Redis 7's multi-part AOF,
            None to load dump.rdb.

    Raises:
        VerifyFailed: the server refused the files or did not finish loading within ``timeout``.
    """
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    binary = shutil.which("redis-server")
    if binary is None:
        raise UsageError("redis-server is not installed here")
    os.chmod(work_dir, 0o700)
    socket_path = work_dir / "redis.sock"
    conf = {
        "port": "0", "unixsocket": str(socket_path), "unixsocketperm": "700", "daemonize": "no",
        "dir": str(work_dir), "dbfilename": "dump.rdb", "save": '""', "logfile": str(work_dir / "load.log"),
        "appendonly": "no" if aof_dir is None else "yes",
    }
    if aof_dir:
        conf["appenddirname"] = aof_dir
    conf_path = work_dir / "throwaway.conf"
    conf_path.write_text("".join(f"{key} {value}\n" for key, value in conf.items()))
    process = subprocess.Popen([binary, str(conf_path)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=child_env())
    conn = redis.Redis(unix_socket_path=str(socket_path), socket_timeout=5, socket_connect_timeout=1,
                       decode_responses=True, retry=Retry(NoBackoff(), 0))
    try:
        info = _wait_loaded(conn, process, work_dir, timeout, cancel)
        per_db = {key: int(value.get("keys", 0)) for key, value in conn.info("keyspace").items()
                  if isinstance(value, dict)}
        return str(info.get("redis_version", "?")), dict(sorted(per_db.items(), key=lambda item: int(item[0][2:])))
    finally:
        try:
            conn.shutdown(nosave=True)
        except redis.exceptions.RedisError:
            pass  # already gone, or the connection closed as it shut down
        conn.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_loaded(conn: redis.Redis, process: subprocess.Popen[bytes], work_dir: Path, timeout: float,
                 cancel: CancelToken | None) -> dict:
    import redis

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check_cancel(cancel)
        if process.poll() is not None:
            raise VerifyFailed(f"the throw-away redis-server refused the restored files: {_log_tail(work_dir)}")
        try:
            info = conn.info("persistence")
            if not int(info.get("loading", 0)):
                info.update(conn.info("server"))
                return info
        except redis.exceptions.BusyLoadingError:
            pass
        except redis.exceptions.ConnectionError:
            pass  # not listening yet
        time.sleep(0.05)
    raise VerifyFailed(f"the throw-away redis-server did not finish loading within {timeout:g} s")


def _log_tail(work_dir: Path) -> str:
    try:
        lines = [line for line in (work_dir / "load.log").read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    errors = [line for line in lines if " # " in line]
    chosen = (errors or lines)[-1:] if lines else ["no log"]
    return chosen[0].split(" # ", 1)[-1] if " # " in chosen[0] else chosen[0]
