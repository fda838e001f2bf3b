"""How the console runs PostgreSQL's client binaries (pg_dump, pg_restore, psql).

It finds the newest installed binary, checks its major version against the server's, builds
the connection string for argv (host, port, user, database: never a password) and the
child's minimal environment, where the password travels (PGPASSWORD: nothing is left on disk).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from console.childenv import child_env
from console.compressed import compression_of, iter_decompressed
from console.errors import BackupFailed, VerifyFailed, describe_unexpected

if TYPE_CHECKING:
    from console.config import PostgresSettings

_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class Tool:
    """A client binary and its version."""

    path: str
    version: str
    """As the binary prints it, e.g. "pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"."""
    major: int


def find_tool(name: str, bin_dir: str = "") -> Tool:
    """The binary ``name`` from ``bin_dir``, else the newest /usr/lib/postgresql/*/bin, else PATH."""
    return _describe(locate_tool(name, bin_dir))


def locate_tool(name: str, bin_dir: str = "") -> str:
    """Where ``find_tool`` finds ``name``, without asking its version (a process less)."""
    candidates: list[Path] = []
    if bin_dir:
        candidates.append(Path(bin_dir) / name)
    versioned = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                       key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0, reverse=True)
    candidates.extend(versioned)
    on_path = shutil.which(name)
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    where = f" in {bin_dir}" if bin_dir else " (looked in /usr/lib/postgresql/*/bin and PATH)"
    raise BackupFailed(f"{name} not found{where}", hint="install postgresql-client or set postgres.bin_dir")


def _describe(path: str) -> Tool:
    stat = os.stat(path)
    return _described(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=32)
def _described(path: str, mtime_ns: int, size: int) -> Tool:
    """``--version`` once per binary and process (a pre-flight and the run it gates both ask; an
    upgraded binary has another mtime)."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise BackupFailed(f"cannot run {path} --version: {exc}") from None
    found = _VERSION.search(out)
    if not found:
        raise BackupFailed(f"cannot read the version of {path} ('{out}')")
    return Tool(path, out, int(found.group(1)))


def check_server_version(tool: Tool, server_version_num: int) -> None:
    """pg_dump can only dump servers of its own major version or older."""
    server_major = server_version_num // 10000
    if tool.major < server_major:
        raise BackupFailed(
            f"{Path(tool.path).name} {tool.major} cannot dump a PostgreSQL {server_major} server ({tool.path})",
            hint=f"install postgresql-client-{server_major} or set postgres.bin_dir to its bin directory",
        )


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def conninfo(pg: PostgresSettings, dbname: str, timeout: float = 10.0) -> str:
    """A libpq connection string for argv: everything but the password."""
    parts = {"host": pg.host, "port": str(pg.port), "user": pg.user, "dbname": dbname,
             "connect_timeout": str(max(2, int(timeout))), "application_name": "backup-console"}
    return " ".join(f"{key}={_quote(value)}" for key, value in parts.items())


@contextlib.contextmanager
def child_environment(pg: PostgresSettings) -> Iterator[dict[str, str]]:
    """The environment for a client child process: libpq's own PG* settings and the password.

    The password travels in PGPASSWORD in the child's environment only (never argv, never a
    file): a crash, even SIGKILL, leaves no copy of it on disk. /proc/<pid>/environ is readable
    only by the same user and root, like a 0600 passfile would be. The console's other secrets
    (encryption key, S3 and other services' credentials) are not passed on.
    """
    extra = {"PGAPPNAME": "backup-console", "LC_MESSAGES": "C"}
    if pg.password:
        extra["PGPASSWORD"] = pg.password
    yield child_env(extra, prefixes=("PG",))


def scrub(text: str, pg: PostgresSettings) -> str:
    """Remove the password from a message that is about to be shown or stored."""
    return text.replace(pg.password, "********") if pg.password else text


def connection_problem(text: str, pg: PostgresSettings) -> tuple[bool, str]:
    """(timed out, one line naming where) for a libpq message, from psycopg or from a client's stderr."""
    where = f"{pg.host}:{pg.port}"
    lowered = text.lower()
    if "timeout expired" in lowered:
        return True, f"no answer from {where} (connection timed out)"
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return False, f"authentication failed for user '{pg.user}' at {where}"
    if "connection refused" in lowered:
        return False, f"connection refused at {where}"
    if "does not exist" in lowered:
        return False, f"{text} ({where})"
    if "could not translate host name" in lowered or "name or service not known" in lowered:
        return False, f"unknown host '{pg.host}'"
    # libpq prefixes "connection failed: connection to server at ... failed:"; keep the reason
    reason = text.rsplit("failed:", 1)[-1].strip() or text
    return False, f"{reason} ({where})"


_LOCK_QUERY = re.compile(r"Query was: LOCK TABLE (\S+) IN ACCESS SHARE MODE")


def error_line(stderr_lines: list[str], program: str) -> str:
    """The most telling line of a client's stderr: its first error, else its last line."""
    for line in stderr_lines:
        # pg_dump's --lock-wait-timeout surfaces as a bare "statement timeout"; the detail line names the table
        locked = _LOCK_QUERY.search(line)
        if locked:
            return (f"could not lock table {locked.group(1)} in time: another session holds a conflicting lock "
                    "(see pg_locks; postgres.lock_wait_timeout_seconds sets the wait)")
    for line in stderr_lines:
        lowered = line.lower()
        if "error:" in lowered or "fatal:" in lowered:
            text = line.split("error:", 1)[-1].strip() if "error:" in line else line.strip()
            return text.rsplit("failed:", 1)[-1].strip() or text
    return stderr_lines[-1].strip() if stderr_lines else f"{program} gave no message"


def pg_restore_text(argv: list[str], dump: Path) -> list[str]:
    """Run a printing pg_restore (``--list``, ``--file=-``) over ``dump`` and return its stdout lines.

    A compressed dump is decompressed into its stdin; pg_restore may stop reading once it has what it prints.

    Raises:
        VerifyFailed: the file is not a (readable) custom-format dump, or its compression is damaged.
    """
    compressed = dump.name.endswith((".zst", ".gz"))
    argv = argv + ([] if compressed else [str(dump)])
    with tempfile.TemporaryFile() as output, tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if compressed else subprocess.DEVNULL, stdout=output,
                                stderr=errors, env=child_env())
        feed_error: list[BaseException] = []
        if compressed:
            assert proc.stdin is not None
            try:
                for chunk in iter_decompressed(dump):
                    proc.stdin.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            except Exception as exc:  # noqa: BLE001 - zstd/gzip errors: the file is not what its name says
                feed_error.append(exc)
            finally:
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
        code = proc.wait()
        errors.seek(0)
        stderr_lines = errors.read(64 * 1024).decode(errors="replace").splitlines()
        output.seek(0)
        lines = output.read().decode(errors="replace").splitlines()
    if feed_error and (code != 0 or not lines):
        raise VerifyFailed(f"{dump} is not a readable dump: its {compression_of(dump.name)} "
                           f"stream is damaged ({describe_unexpected(feed_error[0])})",
                           hint="nothing was touched; restore another set")
    if code != 0:
        raise VerifyFailed(f"{dump} is not a PostgreSQL custom-format dump: {error_line(stderr_lines, 'pg_restore')}",
                           hint="nothing was touched; restore another set")
    return lines
