"""The Redis kind: a BGSAVE snapshot (validated RDB) and the append-only file."""

from __future__ import annotations

from console.kinds.base import Kind, Option
from console.kinds.redis import backup, checks, verify
from console.kinds.redis.layout import LAYOUT

KIND = Kind(
    name="redis",
    title="Redis",
    help="Redis: BGSAVE snapshot (RDB, validated) and the AOF, gzip-compressed, with metadata",
    layout=LAYOUT,
    preflight=("redis.healthy", "redis.memory", "redis.disk_space", "redis.destination_writable",
               "redis.replication", "redis.data_dir", "redis.aof", "common.s3_reachable"),
    checks=checks.CHECKS,
    run=backup.run,
    lock_name=backup.lock_name,
    verifier=verify,
    options=(Option("no_aof", "back up the RDB snapshot only, not the append-only file"),),
    s3_type="redis",
    daily=True,
)
