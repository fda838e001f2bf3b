"""PostgreSQL full backup: the custom dump and the SQL text dump of one snapshot, plus metadata.

``run`` exports a snapshot, streams ``pg_dump -Fc`` through console.kinds.postgres.pipeline into
``backup_<db>_<ts>.dump.zst`` (or ``.dump`` compressed by pg_dump itself, by config) and derives
``backup_<db>_<ts>.sql.gz`` (or ``.sql.zst``) from the same bytes with ``pg_restore -f -``. Then,
in the same snapshot, it counts every table's rows and hashes the schema, and writes
``backup_<db>_<ts>.json`` last. Everything goes through one ArtifactSet: all or nothing.
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
import tarfile
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console import __version__
from console.artifacts import ArtifactInfo, ArtifactSet, partial_path
from console.errors import ConfigError, UsageError
from console.instances import set_id_of
from console.kinds.base import BackupRequest, BackupResult
from console.kinds.common_metadata import fresh_stamp
from console.kinds.postgres.client import Tool, check_server_version, child_environment, conninfo, find_tool
from console.kinds.postgres.layout import LAYOUT
from console.kinds.postgres.pipeline import PipelineSpec, PipelineStats, run_pipeline
from console.pitr.basebackup import lock_name as base_lock_name
from console.pitr.basebackup import run as run_physical
from console.probes.postgres import connect
from console.progress import CancelToken, ProgressCallback, ProgressEvent, Throttle, check_cancel, emit

if TYPE_CHECKING:
    from console.config import PostgresSettings, Settings
    from console.kinds.postgres.stats import CopyRowCounter, DatabaseFacts

CONSISTENCY = "sql derived from the custom dump via pg_restore -f -"
_BAD_NAME = re.compile(r"[/\x00]")


def lock_name(settings: Settings, request: BackupRequest) -> str:
    if request.options.get("physical"):
        return base_lock_name()
    database = request.target or settings.postgres.database
    return "postgres-" + re.sub(r"[^A-Za-z0-9_.-]", "_", database)


def databases(settings: Settings) -> list[str]:
    """The configured databases: ``postgres.databases``, else ``postgres.database`` (POSTGRES_DB)."""
    return list(settings.postgres.databases or [settings.postgres.database])


def targets(settings: Settings) -> list[str]:
    """Databases a picker offers: the configured ones first, then any other the server has."""
    configured = databases(settings)
    try:
        with connect(settings.postgres, settings.timeout_seconds) as conn:
            rows = conn.execute("SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate "
                                "ORDER BY datname").fetchall()
    except Exception:  # noqa: BLE001 - a picker falls back to the configuration
        return configured
    return configured + [row[0] for row in rows if row[0] not in configured]


def file_names(database: str, stamp: str, pg: PostgresSettings) -> tuple[str, str, str]:
    custom = LAYOUT.name("dump", stamp, ".zst" if pg.dump_compression == "zstd" else "", name=database)
    sql = LAYOUT.name("sql", stamp, ".zst" if pg.sql_compression == "zstd" else ".gz", name=database)
    return custom, sql, LAYOUT.name("metadata", stamp, name=database)


def sql_compression(pg: PostgresSettings) -> tuple[str, int, str]:
    """How the SQL artefact is compressed: (ArtifactWriter kind, level, label for the metadata).

    gzip goes through ISA-L (the ``isal`` package) when it is installed: the same gzip format
    at about five times zlib's speed, so ``.sql.gz`` keeps up with pg_dump. ISA-L has levels
    0-3, so ``gzip_level`` is capped at 3 there.
    """
    if pg.sql_compression == "zstd":
        return "zstd", pg.zstd_level, f"zstd level {pg.zstd_level}"
    if importlib.util.find_spec("isal") is None:  # asks whether it is installed without loading it
        return "gzip", pg.gzip_level, f"gzip level {pg.gzip_level} (zlib)"
    level = min(pg.gzip_level, 3)
    return "isal-gzip", level, f"gzip level {level} (ISA-L)"


def _check_levels(pg: PostgresSettings) -> None:
    for key, value, high in (("zstd_level", pg.zstd_level, 19), ("gzip_level", pg.gzip_level, 9),
                             ("pg_dump_level", pg.pg_dump_level, 9)):
        if not 1 <= value <= high:
            raise ConfigError(f"postgres.{key} must be from 1 to {high}, got {value}")


def run(settings: Settings, request: BackupRequest, on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None) -> BackupResult:
    """Back up one database; raises a ConsoleError (the runner records it) when it cannot."""
    if request.options.get("physical"):
        return run_physical(settings, request, on_progress, cancel)
    from console.kinds.postgres.stats import CopyRowCounter, SnapshotSession, schema_hash  # psycopg: not at start-up

    pg = settings.postgres
    database = request.target or pg.database
    if not database or _BAD_NAME.search(database):
        raise UsageError(f"cannot back up database {database!r}: the name cannot be part of a file name")
    _check_levels(pg)
    progress = Throttle(on_progress, per_second=8)
    with_sql = not request.options.get("no_sql", False)
    with_archive = bool(request.options.get("archive", pg.archive))
    started = time.perf_counter()
    directory = settings.root.kind_dir("postgres")
    stamp = fresh_stamp(directory, directory / "archives")
    timestamp = datetime.now().astimezone().isoformat(timespec="seconds")
    pg_dump = find_tool("pg_dump", pg.bin_dir)
    pg_restore = find_tool("pg_restore", pg.bin_dir) if with_sql else None
    custom_name, sql_name, json_name = file_names(database, stamp, pg)

    emit(progress, ProgressEvent("snapshot", message=f"exporting a snapshot of {database} at {pg.host}:{pg.port}"))
    session = SnapshotSession(pg, database, settings.timeout_seconds)
    try:
        facts = session.start()
        check_server_version(pg_dump, facts.server_version_num)
        with child_environment(pg) as env, ArtifactSet(directory, settings.dir_mode_bits, settings.file_mode_bits) as files:
            target = conninfo(pg, database, settings.timeout_seconds)
            counter = CopyRowCounter() if with_sql else None
            stats = _dump(files, pg, pg_dump, pg_restore, target, env, facts, custom_name,
                          sql_name if with_sql else None, progress, cancel, counter)
            emit(progress, ProgressEvent("counts", message="row counts per table (from the SQL stream, else count(*) "
                                                           "in the dump's snapshot)"))
            session.count_rows(facts, cancel, streamed=counter.counts if counter else None)
            emit(progress, ProgressEvent("schema", message="hashing the schema (pg_dump --schema-only)"))
            hashed = schema_hash(pg_dump, target, env, facts.snapshot)
            session.finish(facts)
            check_cancel(cancel)
            infos = {info.name: info for info in files.infos}
            metadata = build_metadata(
                settings, request, database, stamp, timestamp, facts, hashed, stats, pg_dump, pg_restore,
                infos[custom_name], infos.get(sql_name), time.perf_counter() - started,
                archive_name=LAYOUT.name("archive", stamp) if with_archive else None)
            emit(progress, ProgressEvent("metadata", message=f"writing {json_name}"))
            files.write_json(json_name, metadata)
            if with_archive:
                _write_archive(files, directory, stamp, [custom_name] + ([sql_name] if with_sql else []) + [json_name],
                               progress, cancel)
            emit(progress, ProgressEvent("commit", message="renaming the set into place"))
    finally:
        session.close()
    duration = time.perf_counter() - started
    order = [custom_name, sql_name, json_name]
    produced = tuple(sorted(files.infos, key=lambda info: order.index(info.name) if info.name in order else len(order)))
    return BackupResult(
        "postgres", database, "ok",
        f"{database}: {facts.table_count} tables, {facts.row_count} rows, {len(produced)} files",
        set_id=set_id_of("postgres", database, stamp, settings.instance_of("postgres")), files=produced, metadata_path=directory / json_name,
        duration_seconds=duration,
        extra={"rows": facts.row_count, "tables": facts.table_count, "dump_bytes": stats.dump_bytes,
               "directory": str(directory)},
    )


def _dump(files: ArtifactSet, pg: PostgresSettings, pg_dump: Tool, pg_restore: Tool | None, target: str,
          env: dict[str, str], facts: DatabaseFacts, custom_name: str, sql_name: str | None,
          progress: ProgressCallback, cancel: CancelToken | None,
          counter: CopyRowCounter | None = None) -> PipelineStats:
    zstd_custom = pg.dump_compression == "zstd"
    level = 0 if zstd_custom else pg.pg_dump_level
    dump_argv = [pg_dump.path, "--format=custom", f"--compress={level}", "--blobs", "--verbose", "--no-password",
                 f"--snapshot={facts.snapshot}", f"--dbname={target}"]
    if pg.lock_wait_timeout_seconds:
        dump_argv.insert(-2, f"--lock-wait-timeout={pg.lock_wait_timeout_seconds}s")
    restore_argv = [pg_restore.path, "--file=-"] if pg_restore is not None and sql_name else None
    sql_kind, sql_level, _label = sql_compression(pg)
    with contextlib.ExitStack() as stack:
        custom_out = stack.enter_context(files.create(custom_name, "zstd" if zstd_custom else None, pg.zstd_level))
        sql_out = stack.enter_context(files.create(sql_name, sql_kind, sql_level)) if sql_name else None
        expected = facts.data_bytes or facts.database_size_bytes
        emit(progress, ProgressEvent("dump", 0, expected,
                                     message=f"pg_dump -Fc -Z{level} | {'zstd' if zstd_custom else 'as is'}"
                                             + (" + pg_restore -f - for the SQL dump" if sql_name else "")))
        return run_pipeline(PipelineSpec(dump_argv, restore_argv, env, custom_out, sql_out,
                                         expected, sql_tap=counter.feed if counter else None),
                            progress, cancel)
    raise AssertionError("unreachable")


def _write_archive(files: ArtifactSet, directory: Path, stamp: str, names: list[str],
                   progress: ProgressCallback, cancel: CancelToken | None) -> None:
    """The manual's Step 6 as an uncompressed tar (the members are compressed already)."""
    (directory / "archives").mkdir(exist_ok=True)
    archive = LAYOUT.name("archive", stamp)
    emit(progress, ProgressEvent("archive", message=f"writing {archive}"))
    with files.create(archive) as out, tarfile.open(fileobj=out, mode="w|") as tar:  # type: ignore[call-overload]
        for name in names:
            check_cancel(cancel)
            tar.add(partial_path(directory / name), arcname=name, recursive=False)


def _compression_label(kind: str | None, level: int) -> str:
    return "none" if kind is None else f"{kind} level {level}"


def build_metadata(settings: Settings, request: BackupRequest, database: str, stamp: str, timestamp: str,
                   facts: DatabaseFacts, hashed: str, stats: PipelineStats, pg_dump: Tool, pg_restore: Tool | None,
                   custom: ArtifactInfo, sql: ArtifactInfo | None, seconds: float,
                   archive_name: str | None = None) -> dict[str, Any]:
    """The manual's Step 5 fields (with valid types) plus what restore and verify rely on."""
    pg = settings.postgres
    zstd_custom = pg.dump_compression == "zstd"
    custom_compression = _compression_label("zstd", pg.zstd_level) if zstd_custom else f"pg_dump -Z{pg.pg_dump_level}"
    sql_label = sql_compression(pg)[2]
    if zstd_custom:
        basis, uncompressed = "custom-format stream before compression", stats.dump_bytes
    elif sql is not None:
        basis, uncompressed = "SQL text before compression", stats.sql_bytes
    else:
        basis, uncompressed = "database size", facts.database_size_bytes
    ratio = round(100.0 * (1 - custom.size_bytes / uncompressed), 2) if uncompressed else 0.0
    artifacts = [{"role": "dump", "format": "custom", "compression": custom_compression,
                  "uncompressed_bytes": stats.dump_bytes if zstd_custom else None, **custom.as_metadata()}]
    if sql is not None:
        artifacts.append({"role": "sql", "format": "plain", "compression": sql_label,
                          "uncompressed_bytes": stats.sql_bytes, **sql.as_metadata()})
    return {
        "backup_type": "full_daily",
        "timestamp": timestamp,
        "database": database,
        "host": pg.host,
        "version": facts.server_version,
        "backup_method": "pg_dump",
        "files": {"dump_custom": custom.as_metadata(), "dump_sql": sql.as_metadata() if sql else None},
        "database_stats": {
            "table_count": facts.table_count,
            "row_count": facts.row_count,
            "schema_hash": hashed,
            "large_object_count": facts.large_object_count,
            "database_size_bytes": facts.database_size_bytes,
        },
        "backup_time_seconds": round(seconds, 3),
        "compression_ratio": ratio,
        "compression_ratio_basis": basis,
        "s3_uploaded": False,
        "s3_bucket": settings.s3.bucket or None,
        "verification_status": "pending",
        "retention_days": settings.retention.backup_days,
        "producer": f"backup-console {__version__}",
        "set_id": set_id_of("postgres", database, stamp, request.instance),
        "instance": request.instance,
        "duration_seconds": round(seconds, 3),
        "artifacts": artifacts,
        "port": pg.port,
        "pg_dump_version": pg_dump.version,
        "pg_restore_version": pg_restore.version if pg_restore else None,
        "server_version_num": facts.server_version_num,
        "compression": {"dump_custom": custom_compression, "dump_sql": sql_label if sql else None},
        "consistency": CONSISTENCY if sql else "custom dump only (--no-sql)",
        "snapshot": facts.snapshot,
        "wal_lsn_start": facts.lsn_start,
        "wal_lsn_end": facts.lsn_end,
        "table_row_counts": facts.table_row_counts,
        "schema_hash_method": "sha256 of pg_dump --schema-only without \\restrict/\\unrestrict and version comments",
        "archive": {"name": archive_name, "members": "dump, sql and this metadata file"} if archive_name else None,
        "force_reason": request.force_reason,
        "restore_command": (f"zstd -dc {custom.name} | pg_restore -d DBNAME" if zstd_custom
                            else f"pg_restore -d DBNAME {custom.name}"),
    }
