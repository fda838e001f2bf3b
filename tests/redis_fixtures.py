"""Redis test helpers: a varied dataset, a comparable view of it, and a watcher of child argv."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

FAST_SYNC = {"repl-diskless-sync-delay": "0"}  # RedisServer's default now; kept for readers of the tests
"""Redis 7 waits 5 s for more replicas before a diskless transfer; tests need no such wait."""


def populate(server: Any) -> int:
    """Strings, hashes, lists, sets, sorted sets, a stream, an expiring key, binary data, three dbs."""
    db0 = server.client(db=0)
    db0.set("string", "hello")
    db0.set("binary", bytes(range(256)))
    db0.set("counter", 42)
    db0.hset("hash", mapping={"field1": "value1", "field2": "2", "empty": ""})
    db0.rpush("list", "a", "b", "c", "a")
    db0.sadd("set", "x", "y", "z")
    db0.zadd("zset", {"m1": 1.5, "m2": -2, "m3": 1e10})
    db0.xadd("stream", {"event": "created", "n": "1"}, id="1-1")
    db0.xadd("stream", {"event": "updated", "n": "2"}, id="2-1")
    db0.set("expiring", "still here", ex=3600)
    pipe = db0.pipeline()
    for index in range(300):
        pipe.set(f"bulk:{index}", f"value-{index}-" + "x" * (index % 50))
    pipe.execute()
    db1 = server.client(db=1)
    db1.set("db1:string", "one")
    db1.hset("db1:hash", mapping={"a": "1"})
    db5 = server.client(db=5)
    db5.rpush("db5:list", *[str(i) for i in range(100)])
    db5.sadd("db5:set", "only-in-5")
    return sum(server.client(db=db).dbsize() for db in (0, 1, 5))


def dataset(server: Any, dbs: tuple[int, ...] = (0, 1, 5)) -> dict[int, dict[bytes, Any]]:
    """Every key of the given dbs with its type, value and whether it has a TTL."""
    view: dict[int, dict[bytes, Any]] = {}
    for db in dbs:
        conn = server.client(db=db)
        keys: dict[bytes, Any] = {}
        for key in conn.scan_iter(count=1000):
            kind = conn.type(key).decode()
            if kind == "string":
                value: Any = conn.get(key)
            elif kind == "hash":
                value = conn.hgetall(key)
            elif kind == "list":
                value = conn.lrange(key, 0, -1)
            elif kind == "set":
                value = conn.smembers(key)
            elif kind == "zset":
                value = conn.zrange(key, 0, -1, withscores=True)
            elif kind == "stream":
                value = conn.xrange(key)
            else:
                value = None
            keys[key] = (kind, value, conn.ttl(key) > 0)
        view[db] = keys
    return view


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


class ChildWatcher:
    """Samples the argv (and environment) of this process's descendants while a backup runs."""

    def __init__(self) -> None:
        self.seen: set[tuple[bytes, bytes]] = set()
        """(cmdline, environ) pairs: a pid is re-read, since right after fork it still shows python's argv."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ChildWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            for pid in descendants(me):
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                    environ = Path(f"/proc/{pid}/environ").read_bytes()
                except OSError:
                    continue
                if cmdline and environ:  # an exiting process reads as empty
                    self.seen.add((cmdline, environ))
            time.sleep(0.002)

    def argvs(self) -> list[list[str]]:
        return [cmdline.decode(errors="replace").split("\0") for cmdline, _env in self.seen]

    def environment_of(self, program: str, argument: str) -> list[bytes]:
        """Environments of the children running ``program`` with ``argument`` on their argv."""
        return [env for cmdline, env in self.seen
                if program.encode() in cmdline.split(b"\0")[0] and argument.encode() in cmdline.split(b"\0")]
