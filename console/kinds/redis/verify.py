"""Redis checks for ``verify``: RDB magic + CRC64 (console.kinds.redis.rdb), AOF streams, and the deep load.

``--deep`` starts a throw-away redis-server (no TCP port: a unix socket in a private 0700 temp
dir, no persistence of its own) on a copy of the snapshot and compares its key count with the metadata; the server and
the directory are removed whatever happens.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping

from console.catalog import BackupFile
from console.compressed import compression_of, iter_decompressed
from console.errors import VerifyFailed
from console.integrity import tar_listing
from console.kinds.redis.load import load_in_throwaway_server
from console.verify.checks import check_stream
from console.verify.model import FAILED, PASSED, WARNING, SetContext

LEGACY_DEFECT = ("the manual's script writes redis-cli errors (NOAUTH) and unquoted sizes like 1.45M into it "
                 "(defect 8)")
LOAD_TIMEOUT_SECONDS = 120.0


def check_file(ctx: SetContext, item: BackupFile) -> None:
    name = item.path.name
    if item.role == "rdb":
        ctx.run("rdb", name, lambda: _rdb(ctx, item))
    elif item.role == "aof":
        if name.endswith(".tar.gz") or name.endswith(".tar.zst"):
            ctx.run("tar", name, lambda: f"AOF archive lists "
                    f"{len(tar_listing(item.path, name, ctx.cancel, ctx.raw_observer(name)))} file(s)")
        elif compression_of(name):
            check_stream(ctx, item)


def _rdb(ctx: SetContext, item: BackupFile) -> str:
    from console.kinds.redis.rdb import validate_stream

    kind = compression_of(item.path.name)
    validation = validate_stream(iter_decompressed(item.path, ctx.cancel, ctx.raw_observer(item.path.name)),
                                 item.path.name)
    if not validation.ok:
        raise VerifyFailed(validation.message)
    inside = f"{kind} stream complete, " if kind else ""
    return f"File integrity OK ({inside}{validation.message}, Size: {item.size_bytes // (1024 * 1024)}MB)"


def recorded_key_count(document: Mapping[str, Any] | None) -> int | None:
    """Keys at backup time, over every database when our metadata says so."""
    if not document:
        return None
    for key in ("keys_total", "total_keys", "keys_count", "dbsize"):
        value = document.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    keyspace = document.get("keyspace")
    if isinstance(keyspace, dict):
        total = 0
        for entry in keyspace.values():
            if isinstance(entry, dict) and isinstance(entry.get("keys"), int):
                total += entry["keys"]
            elif isinstance(entry, int):
                total += entry
        return total
    return None


def deep_check(ctx: SetContext) -> None:
    """Load the snapshot in a throw-away redis-server and compare key counts with the metadata."""
    item = ctx.backup_set.file("rdb")
    if item is None:
        return
    if any(o.status == FAILED and o.file == item.path.name for o in ctx.outcomes):
        ctx.add("deep_load", FAILED, "load not attempted: the snapshot already failed its checks", item.path.name)
        return
    if shutil.which("redis-server") is None:
        ctx.add("deep_load", WARNING, "load not attempted: redis-server is not installed here", item.path.name)
        return
    scratch = Path(tempfile.mkdtemp(prefix="bc-verify-redis-"))
    try:
        with open(scratch / "dump.rdb", "wb") as out:
            for chunk in iter_decompressed(item.path, ctx.cancel):
                out.write(chunk)
        _version, per_db = load_in_throwaway_server(scratch, None, LOAD_TIMEOUT_SECONDS, ctx.cancel)
        keys = sum(per_db.values())
        expected = recorded_key_count(ctx.document)
        if expected is None:
            ctx.add("deep_load", PASSED, f"snapshot loads in a scratch redis-server: {keys} key(s) "
                    "(no key count recorded to compare)", item.path.name)
        elif keys == expected:
            ctx.add("deep_load", PASSED, f"snapshot loads in a scratch redis-server: {keys} key(s), as recorded",
                    item.path.name)
        else:
            ctx.add("deep_load", FAILED, f"scratch redis-server holds {keys} key(s), the metadata records {expected}",
                    item.path.name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
