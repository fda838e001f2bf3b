"""Restore a PostgreSQL backup set into a database, then prove it: counts and schema compared.

Order: refuse in read-only mode; check the dump's sha256 against the metadata (legacy sets
have none: noted, not fatal); create or inspect the target (a non-empty target needs
``clean`` and ``yes``); run ``pg_restore`` (``.dump.zst`` is decompressed on the fly, or into a
private temporary file when ``jobs > 1`` because parallel restore needs a seekable file); then
compare every table's row count, the large-object count and the schema hash with the metadata.
"""

from __future__ import annotations

import collections
import hashlib
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Iterator

import psycopg
from psycopg import sql

from console.artifacts import CHUNK_SIZE
from console.catalog import artifact_entry, read_metadata, recorded_uncompressed_bytes
from console.compressed import iter_decompressed
from console.kinds.postgres.client import child_environment, conninfo, error_line, find_tool
from console.kinds.postgres.dump_offsets import fill_offsets
from console.kinds.postgres.roles import OwnershipPlan, ownership_plan, owners_of, read_toc
from console.kinds.postgres.stats import count_tables, list_tables, schema_hash
from console.root import BackupRoot
from console.formatting import size
from console.errors import (BackupFailed, Cancelled, ConfirmationRequired, ServiceUnreachable,
                            UsageError, VerifyFailed)
from console.probes.postgres import connect, describe_error
from console.progress import CancelToken, ProgressCallback, ProgressEvent, Throttle, check_cancel, emit
from console.runner import restore_run

if TYPE_CHECKING:
    from console.catalog import BackupSet
    from console.config import Settings
    from console.runlog import RunRecord


@dataclass(frozen=True)
class RestoreOptions:
    target_db: str
    create: bool = False
    jobs: int = 0
    """pg_restore's parallel jobs; 0 chooses (see :func:`choose_jobs`)."""
    clean: bool = False
    yes: bool = False
    no_owner: bool = False
    """Restore without the dump's ownership and privileges (everything then belongs to the restoring user)."""
    role_map: tuple[tuple[str, str], ...] = ()
    """(dump's role, target's role) pairs: the dump's owners and privileges, with these roles replaced."""


@dataclass(frozen=True)
class TableCheck:
    table: str
    expected: int | None
    """None when the metadata has no count for it (legacy sets)."""
    actual: int | None
    """None when the table is missing after the restore."""

    @property
    def ok(self) -> bool:
        return self.actual is not None and (self.expected is None or self.expected == self.actual)


@dataclass(frozen=True)
class RestoreReport:
    set_id: str
    target_db: str
    dump: str
    checksum: str
    """"ok" or "not recorded (legacy set)"."""
    tables: tuple[TableCheck, ...]
    schema_expected: str | None
    schema_actual: str | None
    large_objects_expected: int | None
    large_objects_actual: int | None
    duration_seconds: float
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def schema_ok(self) -> bool | None:
        if self.schema_expected is None:
            return None
        return self.schema_expected == self.schema_actual

    @property
    def compared(self) -> bool:
        """Whether the backup recorded anything to compare with (a legacy set records no counts or hash)."""
        return (self.schema_expected is not None or self.large_objects_expected is not None
                or any(check.expected is not None for check in self.tables))

    @property
    def ok(self) -> bool:
        lo_ok = self.large_objects_expected is None or self.large_objects_expected == self.large_objects_actual
        return all(check.ok for check in self.tables) and self.schema_ok is not False and lo_ok

    def as_json(self) -> dict[str, Any]:
        return {
            "set_id": self.set_id, "target_db": self.target_db, "dump": self.dump, "checksum": self.checksum,
            "ok": self.ok, "compared": self.compared, "schema_hash": {"expected": self.schema_expected, "actual": self.schema_actual,
                                           "equal": self.schema_ok},
            "large_objects": {"expected": self.large_objects_expected, "actual": self.large_objects_actual},
            "tables": [{"table": t.table, "expected": t.expected, "actual": t.actual, "ok": t.ok} for t in self.tables],
            "duration_seconds": round(self.duration_seconds, 3), "notes": list(self.notes),
        }


def restore_postgres(settings: Settings, backup_set: BackupSet, options: RestoreOptions,
                     on_progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> RestoreReport:
    """Restore ``backup_set`` into ``options.target_db`` and compare it with the metadata.

    Raises:
        ReadOnlyRefused, UsageError, ConfirmationRequired: before anything is touched.
        VerifyFailed: the dump does not match its recorded sha256.
        BackupFailed: pg_restore failed (its first error line is in the message).
    """
    if options.clean and not options.yes:
        raise ConfirmationRequired("--clean drops objects in the target database; add --yes to confirm")
    if options.jobs < 0:
        raise UsageError("--jobs must be at least 1 (or 0: chosen from the CPUs and the free space)")
    if options.role_map and options.no_owner:
        raise UsageError("--role-map and --no-owner exclude each other",
                         hint="--role-map keeps owners and privileges under new names; --no-owner drops them")
    started = time.time()
    progress = Throttle(on_progress)
    with restore_run(settings, "postgres", backup_set.set_id, options.target_db) as run:
        report = _restore(settings, backup_set, options, progress, cancel, started, run.interrupted)
        run.done("restored; counts and schema match" if report.ok else "restored, but the comparison differs",
                 ok=report.ok)
        return report


def _restore(settings: Settings, backup_set: BackupSet, options: RestoreOptions, progress: ProgressCallback,
             cancel: CancelToken | None, started: float, interrupted: RunRecord | None) -> RestoreReport:
    pg = settings.postgres
    dump_file = backup_set.file("dump")
    if dump_file is None:
        raise UsageError(f"{backup_set.set_id} has no custom-format dump to restore",
                         hint="restore its .sql.gz with: zcat FILE | psql -d DBNAME")
    dump = dump_file.path
    meta = read_metadata(backup_set)
    document = meta.document if meta.ours else None
    notes: list[str] = []
    pg_restore = find_tool("pg_restore", pg.bin_dir)
    target = options.target_db
    jobs = choose_jobs(options.jobs, dump, document, BackupRoot(settings.backup_dir).scratch, notes)
    with _restore_input(dump, jobs, settings.backup_dir, document, notes, progress, cancel) as source:
        checksum = source.checksum  # checked before the target is touched: a damaged dump restores nothing
        emit(progress, ProgressEvent("validate", message=f"reading the table of contents of {dump.name}"))
        toc = read_toc(pg_restore.path, dump)
        plan = ownership_plan(pg_restore.path, dump, toc, options.role_map) if options.role_map else None
        _check_roles(settings, owners_of(toc), options, notes, plan)
        nonempty, created = _prepare_target(settings, options, interrupted, notes)
        try:
            argv = [pg_restore.path, "--no-password", "--verbose", "--exit-on-error",
                    f"--dbname={conninfo(pg, target)}"]
            if nonempty:
                argv += ["--clean", "--if-exists"]
            if options.no_owner or plan is not None:
                argv += ["--no-owner", "--no-privileges"]
            if jobs > 1:
                argv.append(f"--jobs={jobs}")
            if source.path is not None:
                argv.append(str(source.path))
            with child_environment(pg) as env:
                _run_pg_restore(argv, env, source.stream, dump.stat().st_size, progress, cancel)
            if plan is not None:
                _apply_plan(settings, target, plan, progress)
        except BaseException:
            if created:  # leave the server as it was: no empty or half-restored database behind
                _drop_created(settings, target, notes)
            raise
    with child_environment(pg) as env:
        emit(progress, ProgressEvent("compare", message=f"comparing {target} with the metadata"))
        tables, lo_actual = _compare_counts(settings, target, document, notes)
        schema_expected = document.get("database_stats", {}).get("schema_hash") if document else None
        schema_actual = None
        if schema_expected and options.no_owner:
            schema_expected = None  # the schema hash covers owners and grants, which --no-owner leaves out
            notes.append("--no-owner: ownership and privileges differ from the dump by design; schema not compared")
        elif schema_expected and options.role_map:
            schema_expected = None  # the schema hash covers role names, which the map changes
            notes.append("--role-map: owners and privileges are renamed by design; schema not compared")
        elif schema_expected:
            pg_dump = find_tool("pg_dump", pg.bin_dir)
            schema_actual = schema_hash(pg_dump, conninfo(pg, target), env)
        elif not options.no_owner:
            notes.append("no comparable schema hash in the metadata (legacy set): schema not compared")
    lo_expected = document.get("database_stats", {}).get("large_object_count") if document else None
    return RestoreReport(backup_set.set_id, target, str(dump), checksum, tuple(tables), schema_expected, schema_actual,
                         lo_expected, lo_actual, time.time() - started, tuple(notes))


AUTO_JOBS_MAX = 4
SCRATCH_MARGIN = 256 * 1024 * 1024


def choose_jobs(requested: int, dump: Path, document: dict[str, Any] | None, scratch: Path, notes: list[str]) -> int:
    """The jobs asked for; or, for 0, one per CPU (up to four) when parallel restore can run.

    pg_restore restores tables in parallel only from a seekable file, so a compressed dump is
    first decompressed into ``scratch``: that needs room for the whole dump (its recorded
    uncompressed size, or four times the stored one). Without it, or with one CPU, one job.
    bench/README.md ("Restore"): 2 jobs are 1.13x a plain ``pg_restore -j 2``, 1 job 1.26x.
    """
    if requested >= 1:
        return requested
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    jobs = min(cpus, AUTO_JOBS_MAX)
    if jobs < 2:
        return 1
    if dump.name.endswith((".zst", ".gz")):
        needed = recorded_uncompressed_bytes(document, dump.name) or 4 * dump.stat().st_size  # 0 says nothing
        place = scratch
        while not place.exists() and place != place.parent:
            place = place.parent
        free = shutil.disk_usage(place).free
        if free < needed + SCRATCH_MARGIN:
            notes.append(f"one pg_restore job: a parallel restore decompresses the dump first (about "
                         f"{size(needed)}) and {place} has {size(free)} free")
            return 1
    notes.append(f"{jobs} pg_restore jobs (chosen: {cpus} CPUs; --jobs sets it)")
    return jobs


def _expected_sha256(dump: Path, document: dict[str, Any] | None) -> str | None:
    if not document:
        return None
    artifact = artifact_entry(document, dump.name)
    if artifact is not None and artifact.get("sha256"):
        return str(artifact["sha256"])
    custom = (document.get("files") or {}).get("dump_custom")
    if not isinstance(custom, dict):
        return None
    return str(custom["sha256"]) if custom.get("name") == dump.name and custom.get("sha256") else None


def _check_sha256(dump: Path, document: dict[str, Any] | None, notes: list[str], progress: ProgressCallback,
                  cancel: CancelToken | None) -> str:
    expected = _expected_sha256(dump, document)
    if expected is None:
        return _no_checksum(dump, notes, progress)
    total = dump.stat().st_size
    digest = hashlib.sha256()
    done = 0
    emit(progress, ProgressEvent("checksum", 0, total, message=f"checking the sha256 of {dump.name}"))
    with open(dump, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            check_cancel(cancel)
            digest.update(chunk)
            done += len(chunk)
            emit(progress, ProgressEvent("checksum", done, total))
    emit(progress, ProgressEvent("checksum", done, total, finished=True))
    return _compare_sha256(dump, expected, digest.hexdigest())


def _no_checksum(dump: Path, notes: list[str], progress: ProgressCallback) -> str:
    notes.append(f"{dump.name}: no sha256 recorded (legacy set); restoring without a checksum check")
    emit(progress, ProgressEvent("checksum", message=notes[-1]))
    return "not recorded (legacy set)"


def _compare_sha256(dump: Path, expected: str, actual: str) -> str:
    if actual != expected:
        raise VerifyFailed(f"{dump.name}: sha256 mismatch (recorded {expected[:16]}..., file {actual[:16]}...)"
                           ": the dump is damaged; nothing was restored")
    return "ok"


def _check_roles(settings: Settings, owners: set[str], options: RestoreOptions, notes: list[str],
                 plan: OwnershipPlan | None) -> None:
    """Refuse before touching anything when the dump's owners (or, under a map, any role the restored
    owners and privileges name) are missing on the target server."""
    if not owners and plan is None:
        return
    pg = settings.postgres
    try:
        with connect(pg, settings.timeout_seconds, dbname=_maintenance_db(settings, options.target_db)) as conn:
            existing = {row[0] for row in conn.execute("SELECT rolname FROM pg_roles").fetchall()}
    except psycopg.Error as exc:
        raise ServiceUnreachable(f"cannot list the roles at {pg.host}:{pg.port}: {describe_error(exc, pg)[1]}") from None
    if plan is not None:
        unknown = sorted(old for old, _ in options.role_map if old not in plan.dump_roles | owners)
        if unknown:
            raise UsageError(f"--role-map names role(s) the dump does not have: {', '.join(unknown)}",
                             hint=f"the dump's roles: {', '.join(sorted(plan.dump_roles | owners)) or 'none'}")
        missing = sorted(plan.roles - existing)
        if missing:
            raise UsageError(f"roles the restored owners and privileges need are missing at {pg.host}:{pg.port}: "
                             f"{', '.join(missing)}",
                             hint="create them first (CREATE ROLE ...), or map them with --role-map OLD=NEW")
        mapped = ", ".join(f"{old} -> {new}" for old, new in options.role_map)
        notes.append(f"--role-map: owners and privileges of {mapped}")
        return
    missing = sorted(owners - existing)
    if not missing:
        return
    if options.no_owner:
        notes.append(f"--no-owner: objects owned by {', '.join(missing)} in the dump now belong to '{pg.user}'")
        return
    raise UsageError(f"the dump's objects belong to role(s) missing at {pg.host}:{pg.port}: {', '.join(missing)}",
                     hint="create them first (CREATE ROLE ...), map them with --role-map OLD=NEW, or restore with "
                          f"--no-owner to give everything to '{pg.user}'")


def _apply_plan(settings: Settings, target: str, plan: OwnershipPlan, progress: ProgressCallback) -> None:
    pg = settings.postgres
    emit(progress, ProgressEvent("restore", message=f"owners and privileges under --role-map "
                                                    f"({len(plan.statements)} statements)"))
    try:
        with connect(pg, settings.timeout_seconds, dbname=target) as conn:
            plan.apply(conn)
    except psycopg.Error as exc:
        raise BackupFailed(f"restored, but setting owners and privileges under --role-map failed: "
                           f"{describe_error(exc, pg)[1]}") from None


def _drop_created(settings: Settings, target: str, notes: list[str]) -> None:
    pg = settings.postgres
    try:
        with connect(pg, settings.timeout_seconds, dbname=_maintenance_db(settings, target)) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(target)))
    except psycopg.Error as exc:
        notes.append(f"could not drop the database '{target}' this restore created: {describe_error(exc, pg)[1]}")


def _maintenance_db(settings: Settings, target: str) -> str:
    return settings.postgres.database if settings.postgres.database != target else "postgres"


def _prepare_target(settings: Settings, options: RestoreOptions, interrupted: RunRecord | None,
                    notes: list[str]) -> tuple[bool, bool]:
    """Create the target when asked; refuse a non-empty one without clean+yes (naming an interrupted
    restore into it, whose leftovers it then holds).

    Returns:
        (whether the target holds objects, whether this call created it).
    """
    pg = settings.postgres
    target = options.target_db
    try:
        with connect(pg, settings.timeout_seconds, dbname=_maintenance_db(settings, target)) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target,)).fetchone() is not None
            if not exists:
                if not options.create:
                    raise UsageError(f"database '{target}' does not exist at {pg.host}:{pg.port}",
                                     hint="add --create to create it")
                conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(target)))
                return False, True
        with connect(pg, settings.timeout_seconds, dbname=target) as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
                "           AND n.nspname NOT LIKE 'pg\\_toast%%' AND c.relkind IN ('r','p','v','m','S','f')) "
                "     + (SELECT count(*) FROM pg_largeobject_metadata)").fetchone()
    except psycopg.Error as exc:
        raise ServiceUnreachable(f"cannot prepare database '{target}': {describe_error(exc, pg)[1]}") from None
    objects = int(row[0]) if row else 0
    if objects and interrupted is not None:
        left = (f"an interrupted restore (pid {interrupted.pid}, started "
                f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(interrupted.started))}) left '{target}' "
                f"half-restored ({objects} tables, views, sequences or large objects)")
        if not (options.clean and options.yes):
            raise ConfirmationRequired(f"{left}; refusing to restore into it",
                                       hint="add --clean --yes to drop what it left and restore over it, "
                                            f"or drop the database '{target}'")
        notes.append(f"{left}; dropped its objects and restored over them")
    if objects and not (options.clean and options.yes):
        raise ConfirmationRequired(f"database '{target}' is not empty ({objects} tables, views, sequences or "
                                   "large objects); refusing to restore into it",
                                   hint="add --clean --yes to drop its objects and restore over them")
    return bool(objects), False


class _restore_input:  # noqa: N801 - used as a context manager like a function
    """Where pg_restore reads from: the file itself, a decompressing stream, or a temporary copy.

    Entering it checks the dump's sha256 (``checksum``). For a parallel restore of a compressed
    dump the hash is taken while decompressing into the temporary copy, so the dump is read once.
    """

    def __init__(self, dump: Path, jobs: int, backup_dir: Path, document: dict[str, Any] | None, notes: list[str],
                 progress: ProgressCallback, cancel: CancelToken | None) -> None:
        self.dump, self.jobs, self.backup_dir, self.progress, self.cancel = dump, jobs, backup_dir, progress, cancel
        self.document, self.notes = document, notes
        self.temp: Path | None = None
        self.path: Path | None = None
        self.stream: Iterator[bytes] | None = None
        self.checksum = ""

    def __enter__(self) -> _restore_input:
        compressed = self.dump.name.endswith((".zst", ".gz"))
        if not compressed or self.jobs == 1:
            self.checksum = _check_sha256(self.dump, self.document, self.notes, self.progress, self.cancel)
            if compressed:
                self.stream = iter_decompressed(self.dump, self.cancel)
            else:
                self.path = self.dump
            return self
        try:
            self._decompress_to_temp()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _decompress_to_temp(self) -> None:
        expected = _expected_sha256(self.dump, self.document)
        if expected is None:
            self.checksum = _no_checksum(self.dump, self.notes, self.progress)
        temp_dir = BackupRoot(self.backup_dir).scratch
        temp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="restore-", suffix=".dump", dir=temp_dir)
        self.temp = Path(name)
        total = self.dump.stat().st_size
        emit(self.progress, ProgressEvent("decompress", 0, total,
                                          message=f"checking the sha256 of {self.dump.name} while decompressing it "
                                                  "for --jobs"))
        digest = hashlib.sha256()
        read = 0

        def hash_stored(chunk: bytes) -> None:
            nonlocal read
            digest.update(chunk)
            read += len(chunk)

        broken: str | None = None
        with os.fdopen(fd, "wb") as out:
            try:
                for chunk in iter_decompressed(self.dump, self.cancel, on_raw=hash_stored):
                    out.write(chunk)
                    emit(self.progress, ProgressEvent("decompress", read, total))
            except VerifyFailed as exc:
                broken = exc.message
        if broken is not None:  # what follows the damage is hashed too: a damaged dump is named as a mismatch
            with open(self.dump, "rb") as raw:
                raw.seek(read)
                while chunk := raw.read(CHUNK_SIZE):
                    check_cancel(self.cancel)
                    digest.update(chunk)
        emit(self.progress, ProgressEvent("decompress", total, total, finished=True))
        if expected is not None:
            self.checksum = _compare_sha256(self.dump, expected, digest.hexdigest())  # damage: named as a mismatch
        if broken is not None:
            raise VerifyFailed(f"{self.dump.name}: the compressed stream is damaged ({broken}); nothing was restored")
        # our dump came through a pipe, without data offsets: parallel pg_restore would scan for each table
        fill_offsets(self.temp)
        self.path = self.temp

    def __exit__(self, *exc_info: object) -> None:
        if self.temp is not None:
            self.temp.unlink(missing_ok=True)


def _run_pg_restore(argv: list[str], env: dict[str, str], stream: Iterator[bytes] | None, total: int,
                    progress: ProgressCallback, cancel: CancelToken | None) -> None:
    lines: queue.SimpleQueue[str] = queue.SimpleQueue()
    kept: collections.deque[str] = collections.deque(maxlen=40)
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stream is not None else subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    assert proc.stderr is not None

    def read_stderr(source: IO[bytes]) -> None:
        for raw in source:
            line = raw.decode(errors="replace").rstrip()
            if line:
                kept.append(line)
                lines.put(line)

    reader = threading.Thread(target=read_stderr, args=(proc.stderr,), daemon=True)
    reader.start()
    emit(progress, ProgressEvent("restore", 0, None, message=f"pg_restore into the target ({Path(argv[0]).name})"))
    fed = 0
    try:
        if stream is not None:
            assert proc.stdin is not None
            try:
                for chunk in stream:
                    check_cancel(cancel)
                    proc.stdin.write(chunk)
                    fed += len(chunk)
                    _drain(lines, progress, fed)
            except BrokenPipeError:
                pass  # pg_restore stopped reading: its exit code and stderr say why
            finally:
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
        while proc.poll() is None:
            if cancel is not None and cancel.cancelled:
                raise Cancelled("restore cancelled by the operator; the target database is incomplete")
            time.sleep(0.1)
            _drain(lines, progress, fed)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        reader.join(5)
        proc.stderr.close()
    _drain(lines, progress, fed)
    if proc.returncode != 0:
        raise BackupFailed(f"pg_restore failed: {error_line(list(kept), 'pg_restore')}")
    if stream is None:
        fed = total  # pg_restore read the file itself
    emit(progress, ProgressEvent("restore", fed, None, finished=True))


def _drain(lines: queue.SimpleQueue[str], progress: ProgressCallback, done: int) -> None:
    while True:
        try:
            emit(progress, ProgressEvent("restore", done, None, message=lines.get_nowait()))
        except queue.Empty:
            return


def _compare_counts(settings: Settings, target: str, document: dict[str, Any] | None,
                    notes: list[str]) -> tuple[list[TableCheck], int | None]:
    pg = settings.postgres
    expected: dict[str, int] = dict((document or {}).get("table_row_counts") or {})
    try:
        with connect(pg, settings.timeout_seconds, dbname=target) as conn:
            present = list_tables(conn)
            names = list(expected) + [name for name in present if name not in expected]
            actual = count_tables(conn, names)
            lo_row = conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone()
    except psycopg.Error as exc:
        raise ServiceUnreachable(f"cannot count rows in '{target}': {describe_error(exc, pg)[1]}") from None
    if not expected:
        notes.append("the metadata has no per-table row counts (legacy set): restored counts shown, not compared")
    extra = [name for name in present if name not in expected]
    if expected and extra:
        notes.append(f"tables in {target} that the backup does not have: {', '.join(extra[:10])}")
    checks = [TableCheck(name, expected.get(name), actual.get(name)) for name in names if name in expected or not expected]
    return checks, int(lo_row[0]) if lo_row else None
