"""Physical base backups: ``pg_basebackup -Ft -D - -X fetch`` streamed through our zstd and
sha256 into ``postgres/base/<ts>/`` (see console.pitr.layout), all or nothing; or, with
``postgres.base_compression: server-lz4 | server-zstd``, compressed by the server itself.

The tar stream is read once: a reader thread hands 4 MiB chunks (and their tar headers, to
keep ``backup_label`` and ``backup_manifest`` and every file's size) to a writer thread that
compresses and hashes. The manifest is checked on the way out: its own checksum, and every file
it lists present in the stream with its size (``pg_verifybackup``, which needs the tar unpacked,
is part of ``verify``). The start LSN, timeline and start time come from backup_label, the stop
LSN from the manifest's WAL range, the stop time from the moment pg_basebackup reports the end
point, on the server's clock: no query and no wait for the archiver after the copy.

With server-side compression pg_basebackup cannot put the manifest into a compressed tar on
stdout, so it writes ``base.tar.lz4`` (or ``.zst``) and ``backup_manifest`` into a directory of the
set; a follower thread reads that file as it grows (sha256, decompression through the same tar
tap) and makes the same checks beside the copy, and the file is taken into the set without a
copy. With LZ4 that is the fastest base backup on two cores (bench/README.md): the server's copy of
1 GB shrinks to about 370 MB through the socket and pg_basebackup, and the check overlaps the copy.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import hashlib
import json
import queue
import re
import shutil
import subprocess
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable

from console import __version__
from console.artifacts import ArtifactSet, ArtifactWriter
from console.compressed import StreamDecoder
from console.errors import BackupFailed, Cancelled, VerifyFailed
from console.kinds.base import BackupRequest, BackupResult
from console.kinds.postgres.client import Tool, child_environment, connection_problem, error_line, find_tool
from console.kinds.postgres.pipeline import enlarge_pipe
from console.kinds.postgres.psql_query import PsqlFailed, ask_row, typed
from console.instances import set_id_of
from console.pitr.layout import MANIFEST_NAME, METADATA_NAME, TAR_NAME
from console.pitr.tarstream import TarTap
from console.pitr.walnames import format_lsn, parse_lsn
from console.progress import CancelToken, ProgressCallback, ProgressEvent, Throttle, emit

if TYPE_CHECKING:
    from console.config import PostgresSettings, Settings

CHUNK_SIZE = 4 * 1024 * 1024
QUEUE_DEPTH = 6
FOLLOW_CHUNK = {"lz4": 1024 * 1024, "zstd": 64 * 1024}
"""Server-side compression: the follower's reads of the growing file (compressed bytes). zstd's
decoder has no output limit, so small reads bound what one read decodes to (a run of empty pages
compresses a thousandfold); LZ4's has one (console.compressed)."""
ZSTD_THREADS = 2
"""pg_basebackup copies files faster than one zstd thread compresses them (the opposite of
pg_dump): two compression workers with 4 MiB chunks measured about 1.6x one (bench/README.md)."""
SERVER_METHODS = {"server-lz4": ("base.tar.lz4", "lz4"), "server-zstd": ("base.tar.zst", "zstd")}
"""postgres.base_compression values that have the server compress: the file pg_basebackup writes and
its compression."""
SERVER_VERSION_NUM = 150000
"""Server-side compression (``--compress=server-...``) came with PostgreSQL 15."""
STAGING = "pg_basebackup.partial"
"""Where pg_basebackup writes with server-side compression, inside the set's directory (removed with it
on failure, and by remove_abandoned after a kill)."""
END_POINT = "write-ahead log end point"
"""pg_basebackup's --verbose line once the server has stopped the backup and sent the rest."""

_FACTS_SQL = """
SELECT current_setting('server_version'), current_setting('server_version_num')::int,
       (SELECT system_identifier FROM pg_control_system())::text,
       (SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size'),
       (SELECT sum(pg_database_size(oid)) FROM pg_database)::bigint,
       extract(epoch FROM clock_timestamp())
"""
_FACT_FIELDS: tuple[tuple[str, Callable[[str], Any]], ...] = (
    ("server_version", str), ("server_version_num", int), ("system_identifier", str), ("wal_segment_size", int),
    ("cluster_bytes", int), ("server_clock", float))


def lock_name() -> str:
    return "postgres-base"


def _label_fields(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def _pg_time(text: str) -> datetime:
    """``2026-12-07 02:05:06 UTC`` (backup_label, .backup files) -> an aware datetime."""
    stamp, _, zone = text.rpartition(" ")
    parsed = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S")
    if zone in ("UTC", "GMT"):
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone()  # another zone abbreviation: the server's time zone is ours too


def _server_facts(pg: PostgresSettings, timeout: float) -> dict[str, Any]:
    """The server's version, identity and size, and how far its clock is ahead of ours (seconds).

    Asked through psql (see console.kinds.postgres.psql_query): the clock offset is then known to
    within psql's start-up, a few milliseconds, where the stop time needs a second."""
    asked = time.time()
    try:
        row = ask_row(pg, _FACTS_SQL, timeout)
    except PsqlFailed as exc:
        raise BackupFailed(f"cannot read the server's facts: {connection_problem(str(exc), pg)[1]}") from None
    answered = time.time()
    facts = typed(row, _FACT_FIELDS)
    if any(facts[name] is None for name, _ in _FACT_FIELDS if name != "cluster_bytes"):
        raise BackupFailed(f"cannot read the server's facts: {pg.host}:{pg.port} answered NULL")
    facts["cluster_bytes"] = facts["cluster_bytes"] or 0
    facts["clock_offset"] = facts.pop("server_clock") - (asked + answered) / 2
    return facts


def check_manifest(manifest: bytes, sizes: dict[str, int]) -> int:
    """The manifest's own checksum, and every file it lists in the tar with its size; returns the
    number of files. Raises BackupFailed naming the first difference."""
    try:
        parsed = json.loads(manifest)
        expected = parsed["Manifest-Checksum"]
        files = parsed["Files"]
    except (ValueError, KeyError, TypeError):
        raise BackupFailed("backup_manifest is not a PostgreSQL backup manifest (no Files or Manifest-Checksum)") \
            from None
    # the checksum covers every byte before the line that holds it
    line_start = manifest.rfind(b"\n", 0, manifest.rfind(b'"Manifest-Checksum"')) + 1
    if hashlib.sha256(manifest[:line_start]).hexdigest() != expected:
        raise BackupFailed("backup_manifest's own checksum does not match its contents")
    for entry in files:
        path = entry.get("Path") or bytes.fromhex(entry.get("Encoded-Path", "")).decode(errors="replace")
        if sizes.get(path) != entry.get("Size"):
            found = "missing from" if path not in sizes else f"{sizes[path]} bytes in"
            raise BackupFailed(f"backup_manifest lists {path} ({entry.get('Size')} bytes), {found} the tar stream")
    return len(files)


class _Stream:
    """pg_basebackup's stdout -> reader (tar tap) -> queue -> writer (zstd + sha256)."""

    def __init__(self, argv: list[str], env: dict[str, str], out: ArtifactWriter | None, tap: TarTap,
                 level: int) -> None:
        self.argv, self.env, self.out, self.tap, self.level = argv, env, out, tap, level
        self.raw_bytes = 0
        self.errors: list[BaseException] = []
        self.abort = threading.Event()
        self.stderr: collections.deque[str] = collections.deque(maxlen=60)
        self.process: subprocess.Popen[bytes] | None = None
        self.staging: Path | None = None
        """Server-side compression: the directory pg_basebackup writes into (no stdout stream)."""
        self.followed: tuple[str, str] | None = None
        """Server-side compression: (file name, compression) of the tar the follower reads as it grows."""
        self.digest = hashlib.sha256()
        self.stored_bytes = 0
        self.exited = threading.Event()
        self.end_point_at: float | None = None
        """When pg_basebackup reported the end point (time.time())."""

    def _put(self, channel: queue.Queue[bytes | None], item: bytes | None) -> None:
        while not self.abort.is_set():
            try:
                channel.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _read(self, channel: queue.Queue[bytes | None], source: IO[bytes]) -> None:
        try:
            while not self.abort.is_set() and (chunk := source.read(CHUNK_SIZE)):
                self.raw_bytes += len(chunk)
                self.tap.feed(chunk)
                self._put(channel, chunk)
            self._put(channel, None)
        except BaseException as exc:  # noqa: BLE001 - reported by the polling thread
            self.errors.append(exc)
            self.abort.set()

    def _write(self, channel: queue.Queue[bytes | None]) -> None:
        import zstandard  # the data path only: the kind registry loads this module without it

        try:
            compressor = zstandard.ZstdCompressor(level=self.level, threads=ZSTD_THREADS,
                                                  write_checksum=True).compressobj()
            while True:
                try:
                    chunk = channel.get(timeout=0.1)
                except queue.Empty:
                    if self.abort.is_set():
                        return
                    continue
                if chunk is None:
                    self.out.write(compressor.flush())
                    return
                self.out.write(compressor.compress(chunk))
        except BaseException as exc:  # noqa: BLE001 - a full disk ends the run
            self.errors.append(exc)
            self.abort.set()

    def _wait(self) -> None:
        assert self.process is not None
        self.process.wait()
        self.exited.set()

    def _follow(self) -> None:
        """Server-side compression: read pg_basebackup's file while it grows (the copy keeps about
        one core busy, so the check runs beside it): sha256 of the stored bytes, decompression
        through the tar tap. Ends at the end of the file after pg_basebackup exited."""
        assert self.staging is not None and self.followed is not None
        path = self.staging / self.followed[0]
        try:
            while not path.exists():
                if self.abort.is_set() or self.exited.is_set():
                    if path.exists():
                        break
                    return  # no file: pg_basebackup's exit status says why
                time.sleep(0.02)
            decoder = StreamDecoder(self.followed[1], self.followed[0])
            size = FOLLOW_CHUNK[self.followed[1]]
            with open(path, "rb") as handle:
                while not self.abort.is_set():
                    finished = self.exited.is_set()  # before the read: then an empty read is the end
                    chunk = handle.read(size)
                    if not chunk:
                        if finished:
                            break
                        time.sleep(0.02)
                        continue
                    self.digest.update(chunk)
                    self.stored_bytes += len(chunk)
                    for data in decoder.feed(chunk):
                        self.tap.feed(data)
                        self.raw_bytes += len(data)
                else:
                    return
            if self.process is not None and self.process.returncode == 0:
                for data in decoder.finish():
                    self.tap.feed(data)
                    self.raw_bytes += len(data)
        except BaseException as exc:  # noqa: BLE001 - reported by the polling thread
            if isinstance(exc, VerifyFailed):
                exc = BackupFailed(f"the server's compressed tar does not decompress: {exc.message}")
            self.errors.append(exc)
            self.abort.set()

    def _drain_stderr(self, stream: IO[bytes]) -> None:
        for raw in stream:
            line = raw.decode(errors="replace").rstrip()
            if line:
                if self.end_point_at is None and END_POINT in line:
                    self.end_point_at = time.time()
                self.stderr.append(line)

    def run(self, progress: ProgressCallback, cancel: CancelToken | None, expected: int | None) -> None:
        server_side = self.staging is not None
        try:
            self.process = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL if server_side else subprocess.PIPE,
                                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=self.env)
        except OSError as exc:
            raise BackupFailed(f"cannot start {self.argv[0]}: {exc.strerror or exc}") from None
        assert self.process.stderr is not None
        channel: queue.Queue[bytes | None] = queue.Queue(QUEUE_DEPTH)
        if server_side:  # pg_basebackup writes the server's compressed tar itself: follow it as it grows
            workers = [threading.Thread(target=self._wait, name="base-wait"),
                       threading.Thread(target=self._follow, name="base-follow")]
        else:
            assert self.process.stdout is not None
            enlarge_pipe(self.process.stdout)
            workers = [threading.Thread(target=self._read, args=(channel, self.process.stdout), name="base-read"),
                       threading.Thread(target=self._write, args=(channel,), name="base-write")]
        side = threading.Thread(target=self._drain_stderr, args=(self.process.stderr,), daemon=True)
        for thread in (*workers, side):
            thread.start()
        cancelled = False
        try:
            while any(thread.is_alive() for thread in workers):
                workers[-1].join(0.1)  # returns as soon as the writer is done, not at the next tick
                emit(progress, ProgressEvent("base backup", self.raw_bytes, expected))
                if cancel is not None and cancel.cancelled:
                    cancelled = True
                    self.abort.set()
                if self.abort.is_set() and self.process.poll() is None:
                    self.process.kill()
        finally:
            if self.process.poll() is None and self.abort.is_set():
                self.process.kill()
            for thread in workers:
                thread.join(30)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            side.join(5)
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.process.stderr.close()
        if cancelled:
            raise Cancelled("base backup cancelled by the operator; partial files removed")
        if self.errors:  # before the exit status: a full disk is why pg_basebackup was killed
            exc = self.errors[0]
            if isinstance(exc, BackupFailed):
                raise exc
            raise BackupFailed(f"base backup stream failed: {type(exc).__name__}: {exc}")
        if self.process.returncode != 0:
            raise BackupFailed(f"pg_basebackup failed: {error_line(list(self.stderr), 'pg_basebackup')}")
        emit(progress, ProgressEvent("base backup", self.raw_bytes, expected, finished=True))


def _basebackup_argv(tool: Tool, pg: PostgresSettings, timeout: float, label: str,
                     staging: Path | None = None) -> list[str]:
    target = (f"host={pg.host} port={pg.port} user={pg.user} connect_timeout={max(2, int(timeout))} "
              "application_name=backup-console")
    # -X fetch puts the WAL written during the copy into the tar: the backup is consistent on its own
    common = ["--format=tar", "--wal-method=fetch", "--checkpoint=fast", f"--label={label}", "--no-password",
              "--verbose"]
    if staging is None:
        return [tool.path, "--dbname", target, "--pgdata=-", *common]
    # a compressed tar cannot carry the manifest on stdout (pg_basebackup refuses to inject it), so
    # it writes the tar and backup_manifest into a directory of the set
    return [tool.path, "--dbname", target, f"--pgdata={staging}", *common, f"--compress={_server_method(pg)}"]


def _server_method(pg: PostgresSettings) -> str:
    if pg.base_compression == "server-zstd":
        return f"server-zstd:level={pg.base_zstd_level},workers={ZSTD_THREADS}"
    return pg.base_compression


def choose_compression(pg: PostgresSettings, tool: Tool, facts: dict[str, Any]) -> tuple[str, str]:
    """``postgres.base_compression`` made concrete: (``zstd`` | ``server-lz4`` | ``server-zstd``, why).

    ``auto`` is server-lz4 when the server and pg_basebackup are both 15 or later (the fastest base
    backup and restore on the bench: 1.2-1.6x raw pg_basebackup against 1.7-2.6x for zstd here;
    bench/README.md), zstd here otherwise.
    An explicit server-* on an older one fails before anything is written."""
    capable = facts["server_version_num"] >= SERVER_VERSION_NUM and tool.major >= SERVER_VERSION_NUM // 10000
    if pg.base_compression == "auto":
        if capable:
            return "server-lz4", "auto: the server and pg_basebackup are 15 or later"
        return "zstd", (f"auto: server-side compression needs PostgreSQL 15 (server {facts['server_version']}, "
                        f"pg_basebackup {tool.major})")
    if pg.base_compression in SERVER_METHODS:
        _check_server_side(pg, tool, facts, capable)
    return pg.base_compression, "postgres.base_compression"


def _check_server_side(pg: PostgresSettings, tool: Tool, facts: dict[str, Any], capable: bool) -> None:
    if not capable:
        raise BackupFailed(f"postgres.base_compression {pg.base_compression} needs PostgreSQL 15 or later on the "
                           f"server and for pg_basebackup (server {facts['server_version']}, {tool.version})",
                           hint="set postgres.base_compression: zstd (compressed here instead)")


def _adopt_server_tar(stream: _Stream, files: ArtifactSet) -> None:
    """The server's compressed tar into the set (moved, not copied), once the follower has read it
    all: its sha256, and backup_manifest from beside it."""
    assert stream.staging is not None and stream.followed is not None
    name = stream.followed[0]
    found = sorted(path.name for path in stream.staging.iterdir())
    if found != sorted([name, "backup_manifest"]):
        raise BackupFailed(f"pg_basebackup wrote {', '.join(found)}; expected {name} and backup_manifest only "
                           "(a cluster with tablespaces is not supported)")
    tarball = stream.staging / name
    if tarball.stat().st_size != stream.stored_bytes:
        raise BackupFailed(f"{name} has {tarball.stat().st_size} bytes, {stream.stored_bytes} were read and hashed")
    stream.tap.captured["backup_manifest"] = (stream.staging / "backup_manifest").read_bytes()
    files.adopt(name, tarball, stream.digest.hexdigest(), stream.raw_bytes)


def remove_abandoned(root: Path) -> list[Path]:
    """Directories a killed run left (metadata is committed last, so they have none); call under the lock."""
    removed = []
    if root.is_dir():
        for entry in root.iterdir():
            if entry.is_dir() and re.fullmatch(r"\d{8}_\d{6}", entry.name) and not (entry / METADATA_NAME).exists():
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed


def run(settings: Settings, request: BackupRequest, on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None) -> BackupResult:
    """Take one base backup of the whole cluster; raises a ConsoleError (the runner records it)."""
    pg = settings.postgres
    progress = Throttle(on_progress, per_second=8)
    started = time.perf_counter()
    tool = find_tool("pg_basebackup", pg.bin_dir)
    facts = _server_facts(pg, settings.timeout_seconds)
    root = settings.root.base_backups  # postgres/base/, or postgres@<instance>/base/
    for leftover in remove_abandoned(root):
        emit(progress, ProgressEvent("base backup", message=f"removed {leftover}, left by a run that was killed"))
    stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
    while (root / stamp).exists():
        time.sleep(1.0 - (time.time() % 1.0) + 0.01)
        stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
    directory = root / stamp
    label = f"backup-console {stamp}"
    chosen, why = choose_compression(pg, tool, facts)
    if chosen != pg.base_compression:  # auto: the rest of the run (and the metadata) sees the choice
        settings = dataclasses.replace(settings, postgres=dataclasses.replace(pg, base_compression=chosen))
        pg = settings.postgres
    server = SERVER_METHODS.get(pg.base_compression)
    source = f"-D DIR --compress={_server_method(pg)}" if server else "-D -"
    emit(progress, ProgressEvent("base backup", 0, facts["cluster_bytes"],
                                 message=f"pg_basebackup -Ft {source} -X fetch from {pg.host}:{pg.port}"
                                         f"{'' if server else ' | zstd ' + _level_flag(pg.base_zstd_level)} "
                                         f"into {directory} "
                                         f"({why})"))
    tap = TarTap({"backup_label", "backup_manifest"})
    try:
        with child_environment(pg) as env, ArtifactSet(directory, settings.dir_mode_bits, settings.file_mode_bits) as files:
            if server is not None:  # the server compresses; pg_basebackup writes into the set's directory
                staging = directory / STAGING
                stream = _Stream(_basebackup_argv(tool, pg, settings.timeout_seconds, label, staging), env, None, tap,
                                 pg.base_zstd_level)
                stream.staging, stream.followed = staging, server
                stream.run(progress, cancel, facts["cluster_bytes"])
                _adopt_server_tar(stream, files)
                shutil.rmtree(staging)
            else:
                with files.create(TAR_NAME) as out:  # compressed by the stream itself, with worker threads
                    stream = _Stream(_basebackup_argv(tool, pg, settings.timeout_seconds, label), env, out, tap,
                                     pg.base_zstd_level)
                    stream.run(progress, cancel, facts["cluster_bytes"])
            if "backup_label" not in tap.captured or "backup_manifest" not in tap.captured:
                raise BackupFailed("pg_basebackup's tar has no backup_label or backup_manifest "
                                   f"({tap.members} members read)")
            emit(progress, ProgressEvent("metadata", message="checking the manifest against the stream, reading "
                                                             "backup_label"))
            manifest_files = check_manifest(tap.captured["backup_manifest"], tap.sizes)
            files.write_bytes(MANIFEST_NAME, tap.captured["backup_manifest"])
            metadata = _metadata(settings, request, stamp, label, facts, tool, tap, files, stream,
                                 time.perf_counter() - started)
            metadata["manifest_files_checked"] = manifest_files
            metadata["base_compression_chosen_by"] = why
            files.write_json(METADATA_NAME, metadata)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    duration = time.perf_counter() - started
    infos = tuple(files.infos)
    return BackupResult(
        "postgres", "cluster", "ok",
        f"base backup {metadata['start_lsn']} .. {metadata['stop_lsn']} on timeline {metadata['timeline']}, "
        f"{metadata['raw_bytes']} bytes",
        set_id=metadata["set_id"], files=infos, metadata_path=directory / METADATA_NAME,
        duration_seconds=duration,
        extra={"physical": True, "start_lsn": metadata["start_lsn"], "stop_lsn": metadata["stop_lsn"],
               "timeline": metadata["timeline"], "stop_time": metadata["stop_time"], "directory": str(directory)},
    )


def _metadata(settings: Settings, request: BackupRequest, stamp: str, label: str, facts: dict[str, Any],
              tool: Tool, tap: TarTap, files: ArtifactSet, stream: _Stream, seconds: float) -> dict[str, Any]:
    pg = settings.postgres
    backup_label = _label_fields(tap.captured["backup_label"].decode(errors="replace"))
    manifest = json.loads(tap.captured["backup_manifest"])
    ranges = manifest.get("WAL-Ranges") or []
    if not ranges:
        raise BackupFailed("backup_manifest has no WAL-Ranges: cannot tell where the backup ends")
    start_lsn = parse_lsn(backup_label["START WAL LOCATION"].split()[0])
    timeline = int(backup_label.get("START TIMELINE", ranges[0]["Timeline"]))
    stop_lsn = parse_lsn(ranges[-1]["End-LSN"])
    # The server stops the backup, sends the WAL and the manifest, then the end point: the moment
    # pg_basebackup reports it is a few milliseconds after the server's stop time (never before it),
    # and unlike the .backup file's STOP TIME it is not truncated to the second.
    raw_bytes = stream.raw_bytes
    if stream.end_point_at is not None:
        stop_time = datetime.fromtimestamp(stream.end_point_at + facts["clock_offset"], timezone.utc).astimezone()
        stop_source = "pg_basebackup's end-point report, on the server's clock"
    else:
        stop_time = datetime.fromtimestamp(time.time() + facts["clock_offset"], timezone.utc).astimezone()
        stop_source = "pg_basebackup exit, on the server's clock"
    server = SERVER_METHODS.get(pg.base_compression)
    tar_name = server[0] if server else TAR_NAME
    tar = next(info for info in files.infos if info.name == tar_name)
    manifest_info = next(info for info in files.infos if info.name == MANIFEST_NAME)
    return {
        "backup_type": "physical_base",
        "backup_method": (f"pg_basebackup -Ft -D DIR -X fetch --compress={_server_method(pg)}" if server
                          else "pg_basebackup -Ft -D - -X fetch"),
        "set_id": set_id_of("postgres", "base", stamp, settings.instance_of("postgres")),
        "label": label,
        "timestamp": datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": pg.host,
        "port": pg.port,
        "version": facts["server_version"],
        "server_version_num": facts["server_version_num"],
        "system_identifier": facts["system_identifier"],
        "wal_segment_size": int(facts["wal_segment_size"]),
        "timeline": timeline,
        "start_lsn": format_lsn(start_lsn),
        "stop_lsn": format_lsn(stop_lsn),
        "start_wal_file": re.sub(r".*\(file (\w+)\).*", r"\1", backup_label["START WAL LOCATION"]),
        "checkpoint_lsn": backup_label.get("CHECKPOINT LOCATION"),
        "start_time": _pg_time(backup_label["START TIME"]).isoformat(),
        "stop_time": stop_time.isoformat(timespec="milliseconds"),
        "stop_time_source": stop_source,
        "wal_archive_dir": pg.wal_archive_dir or None,
        "raw_bytes": raw_bytes,
        "cluster_bytes": facts["cluster_bytes"],
        "compression": _compression_label(pg),
        "base_compression": pg.base_compression,
        "manifest_in_tar": server is None,
        "manifest_checksum": manifest.get("Manifest-Checksum"),
        "artifacts": [{"role": "base", "format": "tar", "compression": server[1] if server else "zstd",
                       **tar.as_metadata(), "uncompressed_bytes": raw_bytes},
                      {"role": "manifest", "format": "json", **manifest_info.as_metadata()}],
        "duration_seconds": round(seconds, 3),
        "pg_basebackup_version": tool.version,
        "producer": f"backup-console {__version__}",
        "verification_status": "pending",
        "force_reason": request.force_reason,
    }


def _compression_label(pg: PostgresSettings) -> str:
    """As the metadata's ``compression`` says it (``zstd level 1`` before server-side compression)."""
    if pg.base_compression == "server-lz4":
        return "lz4, by the server"
    if pg.base_compression == "server-zstd":
        return f"zstd level {pg.base_zstd_level}, by the server"
    return f"zstd level {pg.base_zstd_level}"


def _level_flag(level: int) -> str:
    return f"--fast={-level}" if level < 0 else f"-{level}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--physical", action="store_true",
                        help="a base backup of the whole cluster (pg_basebackup) for point-in-time recovery, "
                             "under BACKUP_DIR/postgres/base/<ts>/")
