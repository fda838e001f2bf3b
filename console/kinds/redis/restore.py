"""Restoring a Redis backup set: place the RDB (and the AOF if chosen) into a stopped instance's
data dir, and optionally prove it loads in a throw-away redis-server.

Nothing is placed before the set's files match their recorded sha256 and the RDB validates.
Files already in the data dir are replaced only with ``yes``, and are kept beside the new ones
as ``<name>.before-restore-<ts>``. Redis loads the AOF instead of dump.rdb when appendonly is on,
so the result always says which file the instance will read.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.artifacts import sha256_file
from console.catalog import read_metadata
from console.compressed import DecompressedReader, iter_decompressed
from console.errors import ConfirmationRequired, ConsoleError, UsageError, VerifyFailed
from console.kinds.redis import rdb as rdb_check
from console.kinds.redis.aof import parse_manifest
from console.kinds.redis.load import load_in_throwaway_server
from console.layout import new_stamp
from console.progress import CancelToken, ProgressCallback, ProgressEvent, Throttle, check_cancel, emit
from console.provenance import recorded_checksums
from console.runner import restore_run

if TYPE_CHECKING:
    from console.catalog import BackupSet
    from console.config import Settings

CHUNK_SIZE = 1024 * 1024
RDB_NAME = "dump.rdb"
AOF_DIR_NAME = "appendonlydir"
AOF_FILE_NAME = "appendonly.aof"


@dataclass(frozen=True)
class LoadReport:
    """What a throw-away redis-server found after loading the restored files."""

    loaded_from: str
    redis_version: str
    keys: int
    keys_per_db: dict[str, int]
    expected_keys: int | None
    seconds: float

    @property
    def message(self) -> str:
        per_db = ", ".join(f"{db}={count}" for db, count in self.keys_per_db.items()) or "empty"
        text = f"redis-server {self.redis_version} loaded {self.keys} keys from {self.loaded_from} ({per_db})"
        if self.expected_keys is not None:
            text += f"; the backup recorded {self.expected_keys}"
            if self.keys < self.expected_keys:
                text += " (keys with a TTL may have expired since)"
        return text

    def as_json(self) -> dict[str, Any]:
        return {"loaded_from": self.loaded_from, "redis_version": self.redis_version, "keys": self.keys,
                "keys_per_db": self.keys_per_db, "expected_keys": self.expected_keys,
                "seconds": round(self.seconds, 3), "message": self.message}


@dataclass(frozen=True)
class RedisRestoreResult:
    set_id: str
    data_dir: Path
    placed: list[Path]
    kept_aside: list[Path]
    warnings: list[str]
    with_aof: bool
    verify: LoadReport | None = None
    checks: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"set_id": self.set_id, "data_dir": str(self.data_dir), "placed": [str(p) for p in self.placed],
                "kept_aside": [str(p) for p in self.kept_aside], "warnings": self.warnings, "with_aof": self.with_aof,
                "checks": self.checks, "verify_load": self.verify.as_json() if self.verify else None}


def restore(settings: Settings, backup_set: BackupSet, data_dir: Path, *, with_aof: bool = False, yes: bool = False,
            verify_load: bool = False, on_progress: ProgressCallback | None = None,
            cancel: CancelToken | None = None, allow_unverified: bool = False) -> RedisRestoreResult:
    """Check the set, then place its files into ``data_dir`` (see the module docstring).

    Raises:
        ReadOnlyRefused: read-only mode.
        ConfirmationRequired: files would be replaced and ``yes`` is False.
        VerifyFailed: a file does not match its sha256 or the RDB is damaged.
        UsageError: --with-aof for a set without AOF, or redis-server missing for verify_load.
        ConsoleError: a redis-server is running on ``data_dir``.
    """
    data_dir = data_dir.expanduser().absolute()
    with restore_run(settings, "redis", backup_set.set_id, str(data_dir)) as run:
        result = _restore(settings, backup_set, data_dir, with_aof, yes, verify_load, Throttle(on_progress), cancel,
                          allow_unverified)
        run.done(f"placed {len(result.placed)} file(s)")
        return result


def _restore(settings: Settings, backup_set: BackupSet, data_dir: Path, with_aof: bool, yes: bool,
             verify_load: bool, report: ProgressCallback, cancel: CancelToken | None,
             allow_unverified: bool = False) -> RedisRestoreResult:
    rdb_file = backup_set.file("rdb")
    aof_file = backup_set.file("aof")
    if rdb_file is None:
        raise UsageError(f"backup set {backup_set.set_id} has no RDB snapshot file")
    if with_aof and aof_file is None:
        raise UsageError(f"backup set {backup_set.set_id} has no AOF file (AOF was off or skipped when it was taken)",
                         hint="restore without --with-aof to place the RDB only")
    if verify_load and shutil.which("redis-server") is None:
        raise UsageError("--verify-load needs redis-server, which is not installed here")
    running = redis_servers_using(data_dir)
    if running:
        raise ConsoleError(f"redis-server (pid {running[0]}) is running with its data dir {data_dir}: stop it first",
                           hint="a running Redis overwrites dump.rdb on its next save or shutdown")
    sources = [rdb_file.path] + ([aof_file.path] if with_aof and aof_file else [])
    targets = {rdb_file.path: data_dir / RDB_NAME}
    if with_aof and aof_file:
        targets[aof_file.path] = data_dir / (AOF_DIR_NAME if aof_file.path.name.endswith(".tar.gz") else AOF_FILE_NAME)
    conflicts = [target for target in targets.values() if target.exists()]
    if conflicts and not yes:
        names = ", ".join(str(path) for path in conflicts)
        raise ConfirmationRequired(f"restore would replace {names}: re-run with --yes to replace them",
                                   hint="the replaced files are kept beside the new ones as <name>.before-restore-<ts>")
    checks = _check_sources(backup_set, sources, report, cancel, allow_unverified)
    warnings = _precedence_warnings(data_dir, with_aof, targets)
    data_dir.mkdir(parents=True, exist_ok=True)
    stamp = new_stamp()
    placed, kept = [], []
    for source, target in targets.items():
        check_cancel(cancel)
        emit(report, ProgressEvent("restore", message=f"placing {source.name} as {target}"))
        kept_path = _place(source, target, stamp, report, cancel, settings.file_mode_bits, settings.dir_mode_bits)
        placed.append(target)
        if kept_path is not None:
            kept.append(kept_path)
    load = _verify_load(data_dir, with_aof, aof_file.path if with_aof and aof_file else None,
                        _expected_keys(backup_set), settings, report) if verify_load else None
    return RedisRestoreResult(backup_set.set_id, data_dir, placed, kept, warnings, with_aof, load, checks)


def redis_servers_using(data_dir: Path) -> list[int]:
    """pids of redis-server processes whose working dir is ``data_dir`` (Redis chdirs into its dir)."""
    found = []
    wanted = data_dir.resolve()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if Path(os.readlink(entry / "cwd")) != wanted:
                continue
            name = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if name.startswith("redis-server"):
            found.append(int(entry.name))
    return found


def _check_sources(backup_set: BackupSet, sources: list[Path], report: Throttle, cancel: CancelToken | None,
                   allow_unverified: bool = False) -> list[str]:
    """sha256 against the metadata (when it records them), then the RDB's own validation."""
    checks = []

    recorded = recorded_checksums(backup_set, allow_unverified)
    for source in sources:
        check_cancel(cancel)
        expected = recorded.get(source.name)
        if expected:
            emit(report, ProgressEvent("check", message=f"sha256 of {source.name}"))
            if sha256_file(source) != expected:
                raise VerifyFailed(f"{source} does not match the sha256 recorded in its metadata: the file is damaged")
            checks.append(f"{source.name}: sha256 matches the metadata")
    rdb_source = sources[0]
    validation = rdb_check.validate_file(rdb_source, on_progress=report, cancel=cancel)
    if not validation.ok:
        raise VerifyFailed(f"refusing to restore: {validation.message}")
    checks.append(f"{rdb_source.name}: {validation.message}")
    return checks


def _precedence_warnings(data_dir: Path, with_aof: bool, targets: dict[Path, Path]) -> list[str]:
    existing_aof = [path for path in (data_dir / AOF_DIR_NAME, data_dir / AOF_FILE_NAME) if path.exists()]
    if with_aof:
        return ["AOF takes precedence over RDB: start the instance with appendonly yes (and appenddirname "
                f"{AOF_DIR_NAME}) to load the restored AOF; with appendonly no it loads dump.rdb instead"]
    warnings = ["AOF takes precedence over RDB: if the instance runs with appendonly yes it loads its AOF and "
                "ignores the restored dump.rdb; start it once with appendonly no (then CONFIG SET appendonly yes), "
                "or restore with --with-aof"]
    if existing_aof:
        names = ", ".join(path.name for path in existing_aof)
        warnings.append(f"{data_dir} already holds an AOF ({names}) that would be loaded instead of the restored "
                        "dump.rdb when appendonly is yes")
    return warnings


def _place(source: Path, target: Path, stamp: str, report: Throttle, cancel: CancelToken | None,
           file_mode: int = 0o600, dir_mode: int = 0o700) -> Path | None:
    """Write ``target`` next to itself, then swap it in; the file it replaces is kept aside."""
    staging = target.with_name(f".{target.name}.restore-{stamp}")
    owner = target.parent.stat()
    try:
        if source.name.endswith(".tar.gz"):
            _extract_aof_dir(source, staging, target.name, cancel)
        else:
            total = source.stat().st_size
            read = 0

            def count(chunk: bytes) -> None:
                nonlocal read
                read += len(chunk)

            with open(staging, "xb") as out:
                for chunk in iter_decompressed(source, cancel, on_raw=count):
                    out.write(chunk)
                    emit(report, ProgressEvent("restore", read, total))
                out.flush()
                os.fsync(out.fileno())
        _set_modes(staging, file_mode, dir_mode)  # private by default (settings file_mode/dir_mode), not the umask's
        _match_owner(staging, owner)
        kept = None
        if target.exists():
            kept = target.with_name(f"{target.name}.before-restore-{stamp}")
            os.replace(target, kept)
        os.replace(staging, target)
        return kept
    except BaseException:
        if staging.is_dir():
            shutil.rmtree(staging, ignore_errors=True)
        else:
            staging.unlink(missing_ok=True)
        raise


def _extract_aof_dir(source: Path, staging: Path, dir_name: str, cancel: CancelToken | None) -> None:
    """Extract ``<dir>/<file>`` members only (regular files, no paths outside the directory)."""
    staging.mkdir(mode=0o750)
    with DecompressedReader(source, cancel) as reader, tarfile.open(fileobj=reader, mode="r|") as tar:
        for member in tar:
            check_cancel(cancel)
            parts = member.name.split("/")
            if len(parts) != 2 or not member.isfile() or parts[1] in ("", ".", ".."):
                raise VerifyFailed(f"{source.name}: unexpected member '{member.name}' (expected <aofdir>/<file>)")
            handle = tar.extractfile(member)
            assert handle is not None
            with handle, open(staging / parts[1], "xb") as out:
                shutil.copyfileobj(handle, out, CHUNK_SIZE)
                os.fsync(out.fileno())
        reader.drain()  # to the end of the gzip stream: its CRC and length are checked
    manifests = [path for path in staging.iterdir() if path.name.endswith(".manifest")]
    if len(manifests) != 1:
        raise VerifyFailed(f"{source.name} holds {len(manifests)} AOF manifests (expected one)")
    missing = [name for name, _kind in parse_manifest(manifests[0].read_text()) if not (staging / name).exists()
               and _kind != "h"]
    if missing:
        raise VerifyFailed(f"{source.name}: the manifest names files the archive lacks: {', '.join(missing)}")


def _set_modes(path: Path, file_mode: int, dir_mode: int) -> None:
    if path.is_dir():
        os.chmod(path, dir_mode)
        for item in path.iterdir():
            os.chmod(item, file_mode)
    else:
        os.chmod(path, file_mode)


def _match_owner(path: Path, owner: os.stat_result) -> None:
    """Running as root, give placed files the data dir's owner (redis), or Redis cannot read them."""
    if os.geteuid() != 0:
        return
    for item in [path, *(path.iterdir() if path.is_dir() else [])]:
        os.chown(item, owner.st_uid, owner.st_gid)


def _expected_keys(backup_set: BackupSet) -> int | None:
    document = read_metadata(backup_set).document
    value = document.get("keys_count") if document else None
    return value if isinstance(value, int) else None


def _verify_load(data_dir: Path, with_aof: bool, aof_source: Path | None, expected: int | None,
                 settings: Settings, report: Throttle) -> LoadReport:
    emit(report, ProgressEvent("verify-load", message="starting a throw-away redis-server on the restored files"))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bc-redis-load-") as scratch:
        work = Path(scratch)
        shutil.copy2(data_dir / RDB_NAME, work / RDB_NAME)
        aof_dir = None
        if with_aof and aof_source is not None:
            if aof_source.name.endswith(".tar.gz"):
                shutil.copytree(data_dir / AOF_DIR_NAME, work / AOF_DIR_NAME)
                aof_dir = AOF_DIR_NAME
            else:
                shutil.copy2(data_dir / AOF_FILE_NAME, work / AOF_FILE_NAME)
                aof_dir = ""
        version, per_db = load_in_throwaway_server(work, aof_dir, float(settings.redis.bgsave_timeout_seconds))
    loaded_from = ("the AOF" if aof_dir is not None else RDB_NAME)
    return LoadReport(loaded_from, version, sum(per_db.values()), per_db, expected, time.monotonic() - started)
