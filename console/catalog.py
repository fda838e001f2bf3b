"""The catalog: which backup sets exist under BACKUP_DIR, recognised by file name.

It reads the procedures manual's layout and names (``postgres/backup_<db>_<ts>.dump``,
``redis/snapshot_<ts>.rdb.gz``, ``rabbitmq/definitions_<ts>.json.gz``, ...) so backups made
by the old shell scripts are listed next to ours. The manual's scripts take a fresh timestamp
at each step, so the files of one legacy run can differ by a few seconds: files of the same
kind and name whose timestamps are close, and whose roles do not repeat, form one set.
"""

from __future__ import annotations

import functools
import gzip
import io
import os
import time
import zlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterable, Mapping

from console import jsondoc
from console.instances import DEFAULT, parse_dir_name, set_id_of
from console.kinds.layouts import LAYOUTS
from console.layout import TIMESTAMP_FORMAT, parse_stamp
from console.root import BackupRoot

KINDS: tuple[str, ...] = tuple(LAYOUTS)
CLOCK_SKEW_SECONDS = 300
"""A set dated further ahead than this is "in the future": a warning, and never counted as fresh."""
LEGACY_RUN_WINDOW_SECONDS = 300
"""Files of one legacy run may carry timestamps this far apart (each step called `date`)."""

class BackupFile:
    """One file of a set: its path, its role in the set and the stamp in its name.

    The catalog makes one per file (26,666 at 10,000 sets), so the ``Path`` is built only when
    asked for: a scan that only groups, counts or dates files never pays for it (0.1 s of CPU at
    that size). Compares and hashes like the frozen dataclass it replaces: by (path, role, timestamp).
    """

    __slots__ = ("_directory", "relative", "role", "timestamp", "_path")

    def __init__(self, path: Path, role: str, timestamp: datetime | None) -> None:
        self._directory: Path | None = None
        self.relative = path.name
        self._path: Path | None = path
        self.role = role
        self.timestamp = timestamp

    @classmethod
    def under(cls, directory: Path, relative: str, role: str, timestamp: datetime | None) -> BackupFile:
        """The file ``relative`` (a name, or ``subdir/name``) of the kind directory ``directory``."""
        item = cls.__new__(cls)
        item._directory = directory
        item.relative = relative
        item._path = None
        item.role = role
        item.timestamp = timestamp
        return item

    @property
    def path(self) -> Path:
        if self._path is None:
            self._path = self._directory / self.relative  # type: ignore[operator]
        return self._path

    @property
    def name(self) -> str:
        """The file's name (``path.name``) without building the path."""
        return self.relative.rpartition("/")[2] if self._path is None else self._path.name

    @property
    def parent_name(self) -> str:
        """``path.parent.name`` (``archives``, or the kind directory's name) without building the path."""
        if self._path is None:
            return self.relative.rpartition("/")[0] or self._directory.name  # type: ignore[union-attr]
        return self._path.parent.name

    @property
    def size_bytes(self) -> int:
        try:
            return os.stat(self.path if self._path is not None else f"{self._directory}/{self.relative}").st_size
        except OSError:
            return 0

    def _key(self) -> tuple[Path, str, datetime | None]:
        return (self.path, self.role, self.timestamp)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() == other._key()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"BackupFile(path={self.path!r}, role={self.role!r}, timestamp={self.timestamp!r})"


@dataclass(frozen=True)
class BackupSet:
    """The files of one backup run of one kind (and database, for PostgreSQL) of one instance."""

    kind: str
    name: str
    timestamp: datetime
    files: tuple[BackupFile, ...]
    instance: str = DEFAULT

    # Cached on the instance (cached_property writes __dict__, which a frozen dataclass allows): retention,
    # verify and the dashboard ask 10,000 sets for these, several times each.
    @functools.cached_property
    def stamp(self) -> str:
        return self.timestamp.strftime(TIMESTAMP_FORMAT)

    @functools.cached_property
    def set_id(self) -> str:
        """Stable id used on the command line: ``kind[/instance][/name]/stamp`` (the default instance unnamed)."""
        return set_id_of(self.kind, self.name, self.stamp, self.instance)

    @property
    def aliases(self) -> tuple[str, ...]:
        """Other ids that name this set: the default instance may be named (``postgres/default/shop/<ts>``)."""
        if self.instance != DEFAULT:
            return ()
        return ("/".join(part for part in (self.kind, DEFAULT, self.name, self.stamp) if part),)

    @property
    def target_key(self) -> tuple[str, str, str]:
        """What one schedule line backs up: (kind, instance, database or "")."""
        return (self.kind, self.instance, self.name)

    def file(self, role: str) -> BackupFile | None:
        return next((item for item in self.files if item.role == role), None)

    def roles(self) -> set[str]:
        return {item.role for item in self.files}

    @property
    def metadata_path(self) -> Path | None:
        item = self.file("metadata")
        return item.path if item else None

    @functools.cached_property
    def is_backup(self) -> bool:
        primary = LAYOUTS[self.kind].primary_roles
        return any(item.role in primary for item in self.files)

    @property
    def size_bytes(self) -> int:
        return sum(item.size_bytes for item in self.files)

    def in_future(self, now: datetime | None = None) -> bool:
        """Dated more than CLOCK_SKEW_SECONDS ahead of ``now``: a wrong clock or name, never the newest backup."""
        now = now or datetime.now().astimezone()
        return (self.timestamp - now).total_seconds() > CLOCK_SKEW_SECONDS

    def age_seconds(self, now: datetime | None = None) -> float:
        now = now or datetime.now().astimezone()
        return max(0.0, (now - self.timestamp).total_seconds())


@dataclass
class Catalog:
    backup_dir: Path
    sets: list[BackupSet] = field(default_factory=list)
    unrecognised: list[Path] = field(default_factory=list)
    """Files under the kind directories that no pattern matches: never touched by retention."""

    def by_kind(self, kind: str) -> list[BackupSet]:
        return [item for item in self.sets if item.kind == kind]

    def find(self, set_id: str) -> BackupSet | None:
        return next((item for item in self.sets if item.set_id == set_id or set_id in item.aliases), None)

    def latest(self, kind: str, name: str | None = None, instance: str = DEFAULT) -> BackupSet | None:
        now = datetime.now().astimezone()
        candidates = [item for item in self.by_kind(kind)
                      if item.is_backup and not item.in_future(now) and item.instance == instance
                      and (name is None or item.name == name)]
        return max(candidates, key=lambda item: item.timestamp, default=None)

    def latest_by_target(self) -> dict[tuple[str, str, str | None], BackupSet]:
        """``latest`` of every target in one pass over the sets: (kind, instance, name) -> its newest
        backup, and (kind, instance, None) -> the kind's newest on that instance whatever its name."""
        newest: dict[tuple[str, str, str | None], BackupSet] = {}
        now = datetime.now().astimezone()
        for item in self.sets:
            if not item.is_backup or item.in_future(now):
                continue
            for key in ((item.kind, item.instance, item.name), (item.kind, item.instance, None)):
                current = newest.get(key)
                if current is None or item.timestamp > current.timestamp:  # the first of equals, as max() keeps
                    newest[key] = item
        return newest

    def instances(self, kind: str) -> list[str]:
        """The instances of ``kind`` that have sets here, ``default`` first."""
        found = {item.instance for item in self.by_kind(kind)}
        return sorted(found, key=lambda name: (name != DEFAULT, name))

    def latest_per_target(self) -> list[BackupSet]:
        """The newest backup of each kind and instance (and of each database for PostgreSQL)."""
        newest: dict[tuple[str, str, str], BackupSet] = {}
        now = datetime.now().astimezone()  # once, not per set (10,000 sets: 10,000 clock and zone look-ups)
        for item in self.sets:
            if not item.is_backup or item.in_future(now):
                continue
            key = item.target_key
            if key not in newest or item.timestamp > newest[key].timestamp:
                newest[key] = item
        return sorted(newest.values(),
                      key=lambda item: (list(LAYOUTS).index(item.kind), item.instance != DEFAULT, item.instance, item.name))


def scan(backup_dir: Path, kinds: Iterable[str] | None = None) -> Catalog:
    """List every recognised backup set under ``backup_dir`` (a missing dir is an empty catalog).

    A kind whose directories have not changed since the last scan in this process is not read
    again (see :func:`_scan_kind`): the dashboard refreshes every few seconds over thousands of sets.
    """
    wanted = list(LAYOUTS if kinds is None else kinds)
    parts = [_scan_kind(kind, BackupRoot(backup_dir).kind_dir(kind, instance), instance)
             for kind, instance in instance_dirs(backup_dir, wanted)]
    identity = tuple(id(sets) for sets, _ in parts)  # the same lists: every kind came from the cache
    merged = _MERGED.get((backup_dir, tuple(wanted)))
    if merged is None or merged[0] != identity:
        sets = [item for part, _ in parts for item in part]
        sets.sort(key=lambda item: (item.timestamp, item.kind, item.instance, item.name))
        merged = (identity, sets, [path for _, unrecognised in parts for path in unrecognised], parts)
        _MERGED[(backup_dir, tuple(wanted))] = merged
    return Catalog(backup_dir, list(merged[1]), list(merged[2]))


_MERGED: dict[tuple[Path, tuple[str, ...]], tuple[tuple[int, ...], list[BackupSet], list[Path], object]] = {}
"""The last merged and sorted catalog per directory, reused while every kind's part is the cached one
(10,000 sets: the sort is most of a refresh's scan). It holds the parts too, so their ids stay theirs."""


def instance_dirs(backup_dir: Path, kinds: Iterable[str]) -> list[tuple[str, str]]:
    """(kind, instance) of each kind's directories under ``backup_dir``: the default one (whether it
    exists or not) and every ``<kind>@<instance>`` found, so an instance removed from the
    configuration keeps its sets listed, verifiable and under retention."""
    wanted = list(kinds)
    found: list[tuple[str, str]] = [(kind, DEFAULT) for kind in wanted]
    try:
        with os.scandir(backup_dir) as entries:
            names = sorted(entry.name for entry in entries if "@" in entry.name and entry.is_dir(follow_symlinks=False))
    except OSError:
        return found
    for name in names:
        parsed = parse_dir_name(name)
        if parsed is not None and parsed[0] in wanted:
            found.append(parsed)
    return sorted(found, key=lambda pair: (wanted.index(pair[0]), pair[1] != DEFAULT, pair[1]))


_CACHE: dict[Path, tuple[tuple[int, ...], list[BackupSet], list[Path]]] = {}
_NOTHING: tuple[list[BackupSet], list[Path]] = ([], [])
"""A missing kind directory's part: always the same lists, so a scan over it can reuse its merged result."""
_SETTLED_NS = 2_000_000_000
"""A directory changed less than this long ago is read again next time: a file system with coarse
timestamps could show the same mtime before and after a change made within the same tick."""


def _signature(root: Path, subdirs: tuple[str, ...]) -> tuple[int, ...] | None:
    """The mtimes of the kind's directories (a name added, removed or renamed changes them), or None
    when one is too fresh to trust."""
    stamps = []
    for directory in (root, *(root / sub for sub in subdirs)):
        try:
            stamps.append(os.stat(directory).st_mtime_ns)
        except OSError:
            stamps.append(-1)
    if time.time_ns() - max(stamps) < _SETTLED_NS:
        return None
    return tuple(stamps)


def _scan_kind(kind: str, root: Path, instance: str = DEFAULT) -> tuple[list[BackupSet], list[Path]]:
    """The sets and unrecognised files of one kind: cached by the mtimes of its directories."""
    layout = LAYOUTS[kind]
    if not root.is_dir():
        _CACHE.pop(root, None)
        return _NOTHING
    signature = _signature(root, layout.subdirs)
    cached = _CACHE.get(root)
    if signature is not None and cached is not None and cached[0] == signature:
        return cached[1], cached[2]  # shared: scan() copies what it hands out
    unrecognised: list[Path] = []
    matched: list[tuple[str, BackupFile]] = []
    legacy_untimed: list[BackupFile] = []
    when_of: dict[str, datetime | None] = {}  # the files of a set share their stamp: parse it once
    for relative in _walk(root, layout.subdirs):
        found = layout.match(relative)
        when = None
        if found is not None:
            role, stamp, groups = found
            when = when_of.get(stamp, _UNPARSED)
            if when is _UNPARSED:
                when = when_of[stamp] = _when(stamp)
        if when is not None:
            matched.append((groups.get("name") or "", BackupFile.under(root, relative, role, when)))
        elif layout.legacy_untimed is not None and layout.legacy_untimed.match(relative):
            legacy_untimed.append(BackupFile.under(root, relative, f"legacy:{relative}", None))
        elif not relative.endswith(".partial"):
            unrecognised.append(root / relative)
    sets = _group(kind, matched, instance)
    if legacy_untimed and sets:
        newest = max(sets, key=lambda item: item.timestamp)
        sets[sets.index(newest)] = replace(newest, files=newest.files + tuple(legacy_untimed))
    elif legacy_untimed:
        unrecognised.extend(item.path for item in legacy_untimed)
    if signature is not None:
        _CACHE[root] = (signature, sets, unrecognised)
    return sets, unrecognised


def _walk(root: Path, subdirs: tuple[str, ...]) -> Iterable[str]:
    """Relative file paths one level deep plus the layout's subdirectories (the manual never nests further)."""
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.is_file(follow_symlinks=False):
                yield entry.name
            elif entry.name in subdirs and entry.is_dir(follow_symlinks=False):
                with os.scandir(entry.path) as inner:
                    for sub in inner:
                        if sub.is_file(follow_symlinks=False):
                            yield f"{entry.name}/{sub.name}"


_UNPARSED = datetime.min


def _when(stamp: str) -> datetime | None:
    """The stamp's moment, None when it is no date (or one the platform cannot place in local time):
    then the name is not a backup file."""
    try:
        return parse_stamp(stamp)
    except (ValueError, OverflowError):
        return None


def _group(kind: str, matched: list[tuple[str, BackupFile]], instance: str) -> list[BackupSet]:
    """Group files into sets: same name, timestamps within the legacy window, no repeated role."""
    stamp_only = LAYOUTS[kind].joined_by_stamp
    archives = [item for name, item in matched if item.role in stamp_only]
    others = sorted(
        ((name, item) for name, item in matched if item.role not in stamp_only),
        key=lambda pair: (pair[0], pair[1].timestamp, pair[1].role != "metadata"),
    )
    window = timedelta(seconds=LEGACY_RUN_WINDOW_SECONDS)
    groups: list[tuple[str, list[BackupFile], set[str]]] = []
    open_group: dict[str, tuple[str, list[BackupFile], set[str]]] = {}
    for name, item in others:
        current = open_group.get(name)
        if current is not None:
            files, roles = current[1], current[2]
            if item.timestamp - files[0].timestamp <= window and item.role not in roles:  # type: ignore[operator]
                files.append(item)
                roles.add(item.role)
                continue
        current = (name, [item], {item.role})
        groups.append(current)
        open_group[name] = current
    # sorted by time within a name, so a group's first file is its earliest
    sets = [BackupSet(kind, name, files[0].timestamp, tuple(files), instance)  # type: ignore[arg-type]
            for name, files, _ in groups]
    by_stamp: dict[str, int] = {}  # first set of each stamp, as the linear search found it (10,000 sets: no n^2)
    if archives:
        for index, backup_set in enumerate(sets):
            by_stamp.setdefault(backup_set.stamp, index)
    for archive in archives:  # e.g. the manual's archive carries only a timestamp: join the set it was made from
        stamp = archive.timestamp.strftime(TIMESTAMP_FORMAT)  # type: ignore[union-attr]
        index = by_stamp.get(stamp)
        if index is None:
            sets.append(BackupSet(kind, "", archive.timestamp, (archive,), instance))  # type: ignore[arg-type]
            by_stamp[stamp] = len(sets) - 1
        else:
            target = sets[index]
            sets[index] = replace(target, files=target.files + (archive,))
    return sets


@dataclass(frozen=True)
class MetadataRead:
    """A set's metadata as far as it could be read: the manual's files are often invalid JSON."""

    document: dict[str, Any] | None
    error: str | None

    @property
    def ours(self) -> bool:
        """Written by backup-console (carries ``producer``), not by the manual's scripts."""
        return bool(self.document and str(self.document.get("producer", "")).startswith("backup-console"))


MAX_METADATA_BYTES = 16 * 1024 * 1024
"""Metadata is a few KB; anything this large is damage (or an attack), never parsed."""

_NUMBER = (int, float)
METADATA_FIELD_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "artifacts": ((list,), "a list"),
    "files": ((dict,), "an object"),
    "database_stats": ((dict,), "an object"),
    "keyspace": ((dict,), "an object"),
    "table_row_counts": ((dict,), "an object"),
    "row_counts": ((dict,), "an object"),
    "s3": ((dict,), "an object"),
    "producer": ((str,), "text"),
    "set_id": ((str,), "text"),
    "timestamp": ((str,), "text"),
    "verification_status": ((str,), "text"),
    "duration_seconds": (_NUMBER, "a number"),
    "backup_time_seconds": (_NUMBER, "a number"),
    "keys_count": (_NUMBER, "a number"),
}
"""The fields the console reads from metadata, with the JSON type each must have (absent is fine).

A field of another type makes the whole document unreadable, reported as that set's failed
check, so that no consumer (verify, monitor, retention, upload, restore) meets a surprise type.
"""


def parse_metadata(raw: bytes, name: str) -> MetadataRead:
    """Parse and type-check a metadata document; every defect is an error naming the file and field."""
    if len(raw) > MAX_METADATA_BYTES:
        return MetadataRead(None, f"{name} is {len(raw)} bytes, too large to be metadata")
    try:
        document = jsondoc.loads(raw)
    except ValueError as exc:
        return MetadataRead(None, f"{name} is not valid JSON ({str(exc)[:200]})")
    if not isinstance(document, dict):
        return MetadataRead(None, f"{name} is not a JSON object")
    for field_name, (types, word) in METADATA_FIELD_TYPES.items():
        value = document.get(field_name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, types):
            return MetadataRead(None, f"{name}: '{field_name}' must be {word}, got {type(value).__name__}")
    for index, entry in enumerate(document.get("artifacts") or []):
        if not isinstance(entry, dict) or not isinstance(entry.get("name", ""), str) \
                or not isinstance(entry.get("sha256", ""), str) \
                or isinstance(entry.get("size_bytes", 0), bool) or not isinstance(entry.get("size_bytes", 0), int):
            return MetadataRead(None, f"{name}: artifacts[{index}] must be an object with text name and sha256")
    return MetadataRead(document, None)


def artifact_entry(document: Mapping[str, Any] | None, name: str) -> Mapping[str, Any] | None:
    """Our metadata's ``artifacts`` entry for a file name (entries may carry a sub-directory)."""
    for entry in (document or {}).get("artifacts") or []:
        if isinstance(entry, dict) and str(entry.get("name", "")).rsplit("/", 1)[-1] == name:
            return entry
    return None


def recorded_uncompressed_bytes(document: Mapping[str, Any] | None, name: str) -> int | None:
    """The ``uncompressed_bytes`` our metadata records for a compressed file, when it is a whole number."""
    value = (artifact_entry(document, name) or {}).get("uncompressed_bytes")
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def read_metadata(backup_set: BackupSet) -> MetadataRead:
    """The set's metadata, or why it could not be read; never raises for what is in the file."""
    path = backup_set.metadata_path
    if path is None:
        return MetadataRead(None, "no metadata file")
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_METADATA_BYTES + 1)
        if path.name.endswith(".gz"):
            try:
                with gzip.GzipFile(fileobj=io.BytesIO(raw)) as unzipped:
                    raw = unzipped.read(MAX_METADATA_BYTES + 1)
            except (OSError, EOFError, zlib.error) as exc:
                return MetadataRead(None, f"{path.name} is not valid gzip ({exc})")
    except OSError as exc:
        return MetadataRead(None, f"cannot read {path.name}: {exc.strerror or exc}")
    return parse_metadata(raw, path.name)


# --- reading metadata again only when it changed ----------------------------------------------
# The dashboard refreshes every few seconds: each round reads the newest set of every target, and
# every minute the monitor asks of each encrypted config and certs set whether we wrote it (4,000
# files at 10,000 sets). Those read-only views use these; restore, verify and upload read afresh.

_SEEN_METADATA: dict[Path, tuple[tuple[int, int, int, int], MetadataRead]] = {}
_OURS: dict[Path, tuple[tuple[int, int, int, int], bool]] = {}
METADATA_CACHE_SIZE = 256
"""Documents kept (the newest set of each target, with room); the ``ours`` answers are one bool each."""


def _file_signature(path: Path) -> tuple[int, int, int, int] | None:
    """(inode, size, mtime, ctime) of the file; None when it is missing or changed too recently to trust."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    if time.time_ns() - max(info.st_mtime_ns, info.st_ctime_ns) < _SETTLED_NS:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def read_metadata_unchanged(backup_set: BackupSet) -> MetadataRead:
    """``read_metadata``, parsed again only when the file changed since this process last read it.
    For views only: the document is shared between callers and must not be modified."""
    path = backup_set.metadata_path
    signature = None if path is None else _file_signature(path)
    if path is not None and signature is not None:
        cached = _SEEN_METADATA.get(path)
        if cached is not None and cached[0] == signature:
            return cached[1]
    read = read_metadata(backup_set)
    if path is not None and signature is not None:
        if len(_SEEN_METADATA) >= METADATA_CACHE_SIZE:
            _SEEN_METADATA.pop(next(iter(_SEEN_METADATA)))  # the oldest entry
        _SEEN_METADATA[path] = (signature, read)
    return read


def metadata_is_ours(backup_set: BackupSet) -> bool:
    """``read_metadata(backup_set).ours``, remembered per file for as long as the file is unchanged."""
    path = backup_set.metadata_path
    signature = None if path is None else _file_signature(path)
    if path is not None and signature is not None:
        cached = _OURS.get(path)
        if cached is not None and cached[0] == signature:
            return cached[1]
    ours = read_metadata(backup_set).ours
    if path is not None and signature is not None:
        _OURS[path] = (signature, ours)
    return ours
