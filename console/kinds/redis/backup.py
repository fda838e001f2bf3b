"""The Redis backup kind: BGSAVE, the RDB (local or over the network), the AOF, validation, metadata.

One run writes ``BACKUP_DIR/redis/snapshot_<ts>.rdb.gz``, the AOF (``aof_<ts>.tar.gz`` for
Redis 7's directory, ``aof_<ts>.aof.gz`` for one file) and ``snapshot_<ts>.json`` last, through
one ArtifactSet: the RDB is validated (magic, version, CRC64, redis-check-rdb) before anything
is recorded, and any failure leaves no file behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from typing import TYPE_CHECKING, Any

from console.artifacts import FAST_GZIP, ArtifactSet, partial_path
from console.errors import BackupFailed, ServiceUnreachable
from console.formatting import size
from console.instances import set_id_of
from console.kinds.base import BackupRequest, BackupResult
from console.kinds.common_metadata import artifact_entry, common_fields, fresh_stamp, iso_timestamp
from console.kinds.redis.layout import LAYOUT
from console.progress import CancelToken, ProgressCallback, ProgressEvent, Throttle, emit

if TYPE_CHECKING:
    from pathlib import Path

    from console.kinds.redis.rdb import RdbValidation
    from console.kinds.redis.aof import AofOutcome
    from console.kinds.redis.snapshot import Layout
    from console.config import Settings

GZIP_LEVEL = 1
"""RDB strings are already LZF-compressed: level 1 is several times faster than 6 for a few % in size.
Written through ISA-L when installed (``FAST_GZIP``): zlib level 1 took 18 s of a 1.2 GB RDB's copy."""
RUN_TIMEOUT_SECONDS = 30.0
"""Socket timeout of the run's own connection: BGSAVE's fork of a large instance can take seconds."""


def lock_name(settings: Settings, request: BackupRequest) -> str:
    return "redis"


def run(settings: Settings, request: BackupRequest, on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None) -> BackupResult:
    """Take, validate and record one Redis backup set.

    Raises:
        BackupFailed: BGSAVE, the transfer, the AOF or the validation failed (nothing is left behind).
        ServiceUnreachable: Redis did not answer.
        Cancelled: ``cancel`` was set; partial files are removed.
    """
    import redis as redis_py  # imported here: `backup-console` loads every kind module at start-up

    from console.kinds.redis import rdb as rdb_check
    from console.kinds.redis.aof import archive
    from console.kinds.redis.snapshot import bgsave, file_identity, read_layout, where
    from console.probes.redis import client, describe_error, total_keys

    rs = settings.redis
    report = Throttle(on_progress)
    started = time.monotonic()
    directory = settings.root.kind_dir("redis")
    conn = client(rs, max(settings.timeout_seconds, RUN_TIMEOUT_SECONDS))
    try:
        try:
            info = conn.info()
            layout = read_layout(conn, rs, info)
        except redis_py.exceptions.RedisError as exc:
            raise ServiceUnreachable(describe_error(exc, rs)[1]) from None
        local_rdb = layout.local_dir / layout.dbfilename if layout.local_dir else None
        before: list[tuple[int, int] | None] = [None]
        issued_at: list[float] = [0.0]

        def note_rdb_state() -> None:
            before[0] = file_identity(local_rdb) if local_rdb else None
            issued_at[0] = time.time()

        try:
            save = bgsave(conn, rs, rs.bgsave_timeout_seconds, report, cancel, before_issue=note_rdb_state)
            info = conn.info()
        except redis_py.exceptions.RedisError as exc:
            raise BackupFailed(f"lost Redis at {where(rs)} during BGSAVE: {describe_error(exc, rs)[1]}") from None
        keys, per_db = total_keys(info)
        stamp = fresh_stamp(directory)
        with ArtifactSet(directory, settings.dir_mode_bits, settings.file_mode_bits) as files:
            rdb_name = LAYOUT.name("rdb", stamp, ".gz")
            with files.create(rdb_name, FAST_GZIP, GZIP_LEVEL) as out:
                source = _write_rdb(out, settings, layout, local_rdb, before[0], issued_at[0], report, cancel)
            rdb_info = files.infos[-1]
            emit(report, ProgressEvent("transfer", rdb_info.raw_bytes, rdb_info.raw_bytes, finished=True, message=(
                f"RDB {size(rdb_info.raw_bytes)} compressed to {size(rdb_info.size_bytes)} ({source})")))
            validation = rdb_check.validate_file(partial_path(directory / rdb_name), rdb_name, report, cancel)
            if not validation.ok:
                raise BackupFailed(f"RDB validation failed: {validation.message}",
                                   hint="the server's own dump may be damaged: check the Redis log and disk")
            emit(report, ProgressEvent("validate", message=validation.message))
            try:
                aof = archive(conn, layout, files, stamp, skip=bool(request.options.get("no_aof")),
                              timeout=rs.bgsave_timeout_seconds, on_progress=report, cancel=cancel)
            except redis_py.exceptions.RedisError as exc:
                raise BackupFailed(f"lost Redis at {where(rs)} while archiving the AOF: {describe_error(exc, rs)[1]}") from None
            if aof.status != "archived":
                emit(report, ProgressEvent("aof", message=f"AOF not archived: {aof.reason}"))
            metadata = _metadata(settings, request, stamp, info, keys, per_db, layout, source, save, validation, aof,
                                 files, time.monotonic() - started)
            metadata_name = LAYOUT.name("metadata", stamp)
            files.write_json(metadata_name, metadata)
            emit(report, ProgressEvent("metadata", finished=True, message=f"wrote {metadata_name}"))
    finally:
        conn.close()
    aof_text = f"AOF {aof.status}" + (f" ({aof.artifact.name})" if aof.artifact else f": {aof.reason}")
    return BackupResult(
        "redis", "", "ok",
        f"RDB {size(rdb_info.raw_bytes)} -> {size(rdb_info.size_bytes)}, {keys} keys, {validation.message}; {aof_text}",
        set_id=set_id_of("redis", "", stamp, settings.instance_of("redis")), files=tuple(files.infos), metadata_path=directory / metadata_name,
        duration_seconds=time.monotonic() - started,
        extra={"rdb_source": source, "aof_status": aof.status, "keys_count": keys},
    )


def _write_rdb(out: Any, settings: Settings, layout: Layout, local_rdb: Path | None,
               before: tuple[int, int] | None, issued_at: float, report: ProgressCallback, cancel: CancelToken | None) -> str:
    """Copy the RDB into ``out`` from the data dir if ours is there, else over the network; says which."""
    from console.kinds.redis.snapshot import copy_stream, fetch_rdb, open_local_rdb, where

    rs = settings.redis
    why_network = layout.why_not_local
    if local_rdb is not None:
        handle, why_network = open_local_rdb(local_rdb, before, issued_at)
        if handle is not None:
            with handle:
                total = _fstat_size(handle)
                emit(report, ProgressEvent("transfer", 0, total, message=f"copying {local_rdb}"))
                copy_stream(handle, out, total, "transfer", report, cancel)
            return f"local file {local_rdb}"
    emit(report, ProgressEvent("transfer", 0, None, message=f"fetching the RDB over the network from {where(rs)} "
                               f"(redis-cli --rdb): {why_network}"))
    fetch_rdb(rs, out, float(rs.bgsave_timeout_seconds), report, cancel)
    return f"network (redis-cli --rdb from {where(rs)})"


def _fstat_size(handle: Any) -> int:
    return os.fstat(handle.fileno()).st_size


def _metadata(settings: Settings, request: BackupRequest, stamp: str, info: dict[str, Any], keys: int,
              per_db: dict[str, int], layout: Layout, source: str, save: Any, validation: RdbValidation,
              aof: AofOutcome, files: ArtifactSet, duration: float) -> dict[str, Any]:
    rdb_info = next(item for item in files.infos if item.name.startswith("snapshot_"))
    artifacts = [artifact_entry("rdb", rdb_info, "gzip", validation=validation.as_metadata())]
    if aof.artifact is not None:
        artifacts.append(artifact_entry("aof", aof.artifact, "gzip", format=aof.format))
    manual = {
        "backup_type": "redis_full",
        "timestamp": iso_timestamp(stamp),
        "redis_version": info.get("redis_version"),
        "memory_used_mb": round(int(info.get("used_memory", 0)) / (1024 * 1024), 2),
        "keys_count": keys,
        "files": {"rdb": rdb_info.name, "aof": aof.artifact.name if aof.artifact else None},
        "replication_info": {"role": info.get("role"), "connected_slaves": int(info.get("connected_slaves", 0))},
    }
    ours = {
        "keys_per_db": per_db,
        "redis_host": settings.redis.host,
        "redis_port": settings.redis.port,
        "rdb_source": source,
        "rdb_validation": validation.as_metadata(),
        "bgsave": {"lastsave": save.lastsave, "seconds": round(save.seconds, 3),
                   "waited_for_another_save": save.waited_for_other},
        "aof": aof.as_metadata(),
        "data_dir": layout.server_dir,
    }
    common = common_fields(settings, request, "redis", stamp, duration, artifacts, _tool_versions(info))
    return {**manual, **common, **ours}


def _tool_versions(info: dict[str, Any]) -> dict[str, str | None]:
    versions: dict[str, str | None] = {"redis-server": info.get("redis_version")}
    for tool in ("redis-cli", "redis-check-rdb"):
        versions[tool] = _version_of(tool)
    return versions


def _version_of(tool: str) -> str | None:
    path = shutil.which(tool)
    if path is None:
        return None
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=5, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (done.stdout or done.stderr).strip().splitlines()
    return text[0][:80] if text else None
