"""The manual's "Common issues", diagnosed from the live systems: long-running transactions
(and terminating one), what fills BACKUP_DIR, and why Redis snapshots fail, with the AOF
fallback. Every diagnosis carries the evidence it used: the query, the directory walked, the
INFO fields and log lines read.
"""

from __future__ import annotations

import heapq
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from console.catalog import KINDS, scan
from console.errors import ConsoleError, ReadOnlyRefused, ServiceUnreachable
from console.formatting import size

if TYPE_CHECKING:
    from console.config import Settings

LARGE_FILE_BYTES = 500 * 1024 * 1024
"""The manual's ``find /backups -size +500M``."""

_TRANSACTIONS_SQL = """
SELECT pid, usename, datname, coalesce(application_name, ''), coalesce(state, ''),
       extract(epoch FROM clock_timestamp() - xact_start)::float AS age,
       left(regexp_replace(coalesce(query, ''), '\\s+', ' ', 'g'), 80), coalesce(wait_event_type, '')
  FROM pg_stat_activity
 WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid()
   AND clock_timestamp() - xact_start >= make_interval(secs => %s)
 ORDER BY xact_start
"""


@dataclass(frozen=True)
class Diagnosis:
    """One issue looked at: what was found, the evidence behind it and what to do."""

    title: str
    status: str
    """"ok", "warning" or "problem"."""
    summary: str
    evidence: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"title": self.title, "status": self.status, "summary": self.summary, "evidence": self.evidence,
                "rows": self.rows, "advice": self.advice}


# --- PostgreSQL: long-running transactions ------------------------------------------------------


def long_transactions(settings: Settings, min_seconds: float | None = None) -> Diagnosis:
    """Transactions open for at least ``min_seconds`` (default: the pre-flight threshold)."""
    import psycopg

    from console.probes.postgres import connect, describe_error

    pg = settings.postgres
    threshold = float(pg.long_transaction_seconds if min_seconds is None else min_seconds)
    try:
        with connect(pg, settings.timeout_seconds) as conn:
            conn.execute(f"SET statement_timeout = {int(settings.timeout_seconds * 1000)}")
            rows = conn.execute(_TRANSACTIONS_SQL, (threshold,)).fetchall()
    except psycopg.Error as exc:
        raise ServiceUnreachable(describe_error(exc, pg)[1]) from None
    found = [{"pid": pid, "user": user, "database": db, "application": app, "state": state,
              "age_seconds": round(age, 1), "query": query, "waiting_on": wait}
             for pid, user, db, app, state, age, query, wait in rows]
    evidence = [f"pg_stat_activity on {pg.host}:{pg.port}: transactions open >= {threshold:g} s "
                f"(xact_start), excluding this session"]
    if not found:
        return Diagnosis("Long-running transactions", "ok", f"no transaction open longer than {threshold:g} s", evidence)
    oldest = found[0]
    return Diagnosis(
        "Long-running transactions", "warning",
        f"{len(found)} transaction(s) open >= {threshold:g} s; oldest {oldest['age_seconds']:.0f} s "
        f"(pid {oldest['pid']}, {oldest['application'] or oldest['user']})",
        evidence, found,
        ["a long transaction holds back VACUUM and makes pg_dump wait on locks; ask its owner first",
         "if it must go: `backup-console troubleshoot terminate PID --yes` (pg_terminate_backend)"],
    )


def terminate_backend(settings: Settings, pid: int, wait_seconds: float = 5.0) -> Diagnosis:
    """End one backend with pg_terminate_backend; refused in read-only mode.

    Raises:
        ReadOnlyRefused: read-only mode. ConsoleError: no such backend, or it is our own.
    """
    import psycopg

    from console.probes.postgres import connect, describe_error

    if settings.read_only:
        raise ReadOnlyRefused(f"terminating backend {pid}")
    pg = settings.postgres
    try:
        with connect(pg, settings.timeout_seconds) as conn:
            own = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
            if pid == own:
                raise ConsoleError(f"pid {pid} is this console's own session")
            row = conn.execute("SELECT usename, datname, coalesce(application_name, ''), "
                               "left(coalesce(query, ''), 80) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
            if row is None:
                raise ConsoleError(f"no PostgreSQL backend with pid {pid} on {pg.host}:{pg.port}",
                                   hint="list them with `backup-console troubleshoot transactions`")
            terminated = conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]  # type: ignore[index]
            deadline = time.monotonic() + wait_seconds
            gone = False
            while time.monotonic() < deadline:
                if conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone() is None:
                    gone = True
                    break
                time.sleep(0.1)
    except psycopg.Error as exc:
        raise ServiceUnreachable(describe_error(exc, pg)[1]) from None
    user, database, application, query = row
    evidence = [f"pg_terminate_backend({pid}) returned {terminated}",
                f"backend was: user {user}, database {database}, application '{application}', query '{query}'"]
    if not terminated:
        raise ConsoleError(f"PostgreSQL refused to terminate pid {pid} (not allowed for {pg.user}?)")
    status = "ok" if gone else "warning"
    summary = f"terminated backend {pid}" if gone else f"asked backend {pid} to terminate; still listed after {wait_seconds:g} s"
    return Diagnosis("Terminate backend", status, summary, evidence)


# --- BACKUP_DIR: what takes the space -------------------------------------------------------------


def disk_usage(settings: Settings, top: int = 10) -> Diagnosis:
    """The largest files and the usage per kind under BACKUP_DIR, with free space."""
    from console.probes.storage import nearest_existing

    backup_dir = settings.backup_dir
    disk = shutil.disk_usage(nearest_existing(backup_dir))
    files: list[tuple[int, str]] = []
    per_kind: dict[str, int] = {}
    count = 0
    for root, _dirs, names in os.walk(backup_dir):
        for name in names:
            path = Path(root) / name
            try:
                size_bytes = path.lstat().st_size
            except OSError:
                continue
            count += 1
            files.append((size_bytes, str(path.relative_to(backup_dir))))
            top_dir = path.relative_to(backup_dir).parts[0] if len(path.relative_to(backup_dir).parts) > 1 else "."
            per_kind[top_dir] = per_kind.get(top_dir, 0) + size_bytes
    largest = heapq.nlargest(top, files)
    unrecognised = {str(p.relative_to(backup_dir)) for p in scan(backup_dir).unrecognised} if backup_dir.is_dir() else set()
    rows = [{"path": relative, "size_bytes": size_bytes, "large": size_bytes >= LARGE_FILE_BYTES,
             "recognised": relative not in unrecognised and not relative.startswith(".")}
            for size_bytes, relative in largest]
    free_pct = 100.0 * disk.free / disk.total if disk.total else 0.0
    status = "problem" if free_pct < 5 else "warning" if free_pct < 10 else "ok"
    usage = ", ".join(f"{kind} {size(per_kind.get(kind, 0))}" for kind in KINDS)
    others = {key: value for key, value in per_kind.items() if key not in KINDS}
    if others:
        usage += ", other " + size(sum(others.values()))
    advice = []
    if status != "ok":
        advice.append("preview what retention would free: `backup-console retention plan`")
    if unrecognised:
        advice.append(f"{len(unrecognised)} file(s) are not backups the console knows; retention never touches "
                      f"them: check them by hand")
    return Diagnosis(
        "Backup directory usage", status,
        f"{size(disk.free)} free ({free_pct:.0f} %) of {size(disk.total)}; backups use {size(sum(per_kind.values()))}",
        [f"walked {count} file(s) under {backup_dir}", f"per kind: {usage}",
         f"disk of {nearest_existing(backup_dir)}: {size(disk.used)} used, {size(disk.free)} free"],
        rows, advice,
    )


# --- Redis: why snapshots fail ----------------------------------------------------------------------


def redis_persistence(settings: Settings, log_lines: int = 200) -> Diagnosis:
    """INFO persistence, the snapshot settings and the log's save errors; advice on the AOF fallback."""
    import redis

    from console.probes.redis import client, describe_error

    rs = settings.redis
    conn = client(rs, settings.timeout_seconds)
    try:
        info = conn.info("persistence")
        config: dict[str, str] = {}
        try:
            for key in ("dir", "dbfilename", "appendonly", "save", "logfile", "stop-writes-on-bgsave-error"):
                config.update(conn.config_get(key))
        except redis.exceptions.ResponseError:
            config = {}  # CONFIG renamed or disabled: INFO is still evidence enough
    except redis.exceptions.RedisError as exc:
        raise ServiceUnreachable(describe_error(exc, rs)[1]) from None
    finally:
        conn.close()
    fields = ("rdb_last_bgsave_status", "rdb_last_bgsave_time_sec", "rdb_last_save_time", "rdb_changes_since_last_save",
              "rdb_bgsave_in_progress", "aof_enabled", "aof_last_write_status", "aof_last_bgrewrite_status")
    rows = [{"field": key, "value": info.get(key)} for key in fields]
    rows += [{"field": f"config {key}", "value": value} for key, value in sorted(config.items())]
    evidence = [f"INFO persistence from {rs.host}:{rs.port}"] + (["CONFIG GET dir/dbfilename/appendonly/save/logfile"]
                                                                if config else ["CONFIG GET not allowed"])
    errors = _log_save_errors(config.get("logfile", ""), log_lines)
    if errors is not None:
        evidence.append(f"last {log_lines} lines of {config.get('logfile')}: {len(errors)} save error(s)")
        rows += [{"field": "log", "value": line} for line in errors[-5:]]
    bgsave_ok = info.get("rdb_last_bgsave_status") in (None, "ok")
    aof_on = bool(info.get("aof_enabled"))
    advice: list[str] = []
    if not bgsave_ok:
        advice.append("the last BGSAVE failed, so RDB snapshots are stale: check free space and permissions of "
                      f"{config.get('dir') or 'Redis dir'} and the log (fork: Cannot allocate memory -> "
                      "vm.overcommit_memory=1)")
        if aof_on:
            advice.append("AOF is on: restore from the newest aof_<ts> backup instead of the snapshot "
                          "(the manual: `redis-cli --pipe < appendonly.aof`)")
        else:
            advice.append("AOF is off, so there is no fallback: enable `appendonly yes` once the snapshot works")
        if config.get("stop-writes-on-bgsave-error") == "yes":
            advice.append("stop-writes-on-bgsave-error is yes: clients get MISCONF errors until a save succeeds")
    elif not aof_on:
        advice.append("AOF is off: snapshots are the only copy; `appendonly yes` gives a fallback when a BGSAVE fails")
    status = "problem" if not bgsave_ok else "ok" if aof_on else "warning"
    summary = (f"last BGSAVE {'ok' if bgsave_ok else 'FAILED'}; AOF {'on' if aof_on else 'off'}"
               + (f", last AOF write {info.get('aof_last_write_status')}" if aof_on else ""))
    return Diagnosis("Redis persistence", status, summary, evidence, rows, advice)


def _log_save_errors(logfile: str, lines: int) -> list[str] | None:
    """Save-related error lines from the tail of Redis's log, if it is a readable local file."""
    if not logfile or not os.path.isfile(logfile):
        return None
    try:
        with open(logfile, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 256 * 1024))
            tail = handle.read().decode("utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        return None
    markers = ("Background saving error", "Failed opening", "Write error", "MISCONF", "Can't save", "Error moving temp")
    return [line.strip() for line in tail if any(marker in line for marker in markers)]
