"""Configuration backups (kind "config"): the application tree as ``config_<ts>.tar.gz``, each
secret file (``.env*`` and configured globs) encrypted on its own as ``<name>_<ts>.enc``, and
``manifest_<ts>.json`` listing what was really archived.

Unlike the manual's script, no secret is ever written in plaintext (every ``.env*`` is left out
of the tarball and encrypted straight from the source), the backup directory is never archived
into itself, and git is only read unless ``--git-commit`` is given.
"""

from __future__ import annotations

import fnmatch
import os
import subprocess
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from console import __version__
from console.artifacts import ArtifactSet
from console.errors import BackupFailed, NotConfigured
from console.instances import set_id_of
from console.kinds.base import BackupRequest, BackupResult
from console.kinds.common_metadata import crypto_tool_versions, fresh_stamp
from console.kinds.config.layout import LAYOUT
from console.layout import parse_stamp
from console.progress import CancelToken, ProgressCallback, ProgressEvent, Throttle, check_cancel, emit

if TYPE_CHECKING:
    from console.config import Settings

STANDARD_SECRETS = (".env", ".env.production", ".env.staging", ".env.development")
"""The manual's encrypted files; every other ``.env*`` is encrypted too rather than dropped."""
ALWAYS_EXCLUDED = (".git", "node_modules")
GIT_TIMEOUT_SECONDS = 30


def lock_name(settings: Settings, request: BackupRequest) -> str:
    return "config"


def source_dir(settings: Settings, request: BackupRequest | None = None) -> Path:
    """The tree to archive; never the working directory by default.

    Raises:
        NotConfigured: neither ``--source`` nor config_backup.source_dir (CONFIG_SOURCE_DIR) is set.
    """
    chosen = (request.options.get("source") if request else None) or settings.config_backup.source_dir
    if not chosen:
        raise NotConfigured("the config backup source is not configured: set CONFIG_SOURCE_DIR or "
                            "config_backup.source_dir in the config file (or pass --source DIR)")
    return Path(chosen).expanduser().absolute()


# --- what goes where -------------------------------------------------------------------------------


@dataclass
class ConfigPlan:
    source: Path
    archived: list[str] = field(default_factory=list)
    """Relative paths written into the tarball (files and symlinks)."""
    secrets: list[str] = field(default_factory=list)
    """Relative paths encrypted separately."""
    skipped: list[str] = field(default_factory=list)
    """Sockets, fifos, devices and links to directories outside the tree: not archived."""
    dereferenced: list[str] = field(default_factory=list)
    """Links to files outside the tree, archived as the file they point to (a restore refuses
    links that leave its destination, so they would be lost otherwise)."""


def is_secret(relative: str, settings: Settings) -> bool:
    """A ``.env*`` file, anything inside a ``.env*`` directory, or a configured encrypt glob."""
    name = relative.rsplit("/", 1)[-1]
    if any(part.startswith(".env") for part in relative.split("/")):
        return True
    return any(fnmatch.fnmatch(relative, glob) or fnmatch.fnmatch(name, glob) for glob in settings.config_backup.encrypt)


def is_excluded(relative: str, settings: Settings) -> bool:
    name = relative.rsplit("/", 1)[-1]
    if name in ALWAYS_EXCLUDED:
        return True
    return any(fnmatch.fnmatch(relative, glob) or fnmatch.fnmatch(name, glob) for glob in settings.config_backup.exclude)


def build_plan(settings: Settings, source: Path) -> ConfigPlan:
    """Walk ``source`` (never following directory symlinks) and sort files into archived and secret."""
    if not source.is_dir():
        raise BackupFailed(f"configuration source {source} is not a directory",
                           hint="set config_backup.source_dir or pass --source DIR")
    backup_root = settings.backup_dir.resolve()
    plan = ConfigPlan(source)

    def walk_error(exc: OSError) -> None:
        raise BackupFailed(f"cannot read {exc.filename}: {exc.strerror}",
                           hint="fix its permissions or add it to config_backup.exclude")

    for root, dirs, files in os.walk(source, onerror=walk_error):
        base = Path(root)
        relative_root = base.relative_to(source).as_posix()
        kept = []
        for name in sorted(dirs):
            path = base / name
            relative = name if relative_root == "." else f"{relative_root}/{name}"
            if is_excluded(relative, settings) or path.resolve() == backup_root:
                continue
            if path.is_symlink():
                _add_link(plan, path, relative)  # never walked into
                continue
            kept.append(name)
        dirs[:] = kept
        for name in sorted(files):
            path = base / name
            relative = name if relative_root == "." else f"{relative_root}/{name}"
            if is_excluded(relative, settings):
                continue
            if is_secret(relative, settings):
                (plan.secrets if path.is_file() else plan.skipped).append(relative)
            elif path.is_symlink():
                _add_link(plan, path, relative)
            elif path.is_file():
                plan.archived.append(relative)
            else:
                plan.skipped.append(relative)
    return plan


def _add_link(plan: ConfigPlan, path: Path, relative: str) -> None:
    """A link inside the tree stays a link; one to a file outside is archived as that file."""
    target = Path(os.path.realpath(path))
    if target.is_relative_to(plan.source.resolve()) and not os.path.isabs(os.readlink(path)):
        plan.archived.append(relative)
    elif target.is_file():
        plan.archived.append(relative)
        plan.dereferenced.append(relative)
    else:
        plan.skipped.append(relative)


def encrypted_name(relative: str, stamp: str) -> str:
    """``.env`` -> ``.env_<ts>.enc``; a nested path is percent-encoded into one file name."""
    return LAYOUT.name("enc:{file}", stamp, file=quote(relative, safe=''))


def original_name(enc_role: str) -> str:
    """The relative path an ``enc:<file>`` catalog role stands for."""
    return unquote(enc_role.split(":", 1)[1])


# --- git -----------------------------------------------------------------------------------------


def _git_env() -> dict[str, str]:
    """Our environment minus every secret setting's variable: git runs hooks, which must not see them."""
    from console.config import schema

    secret_names = {spec.env for spec in schema() if spec.secret and spec.env}
    env = {name: value for name, value in os.environ.items() if name not in secret_names}
    return {**env, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}


def _git(source: Path, *args: str) -> subprocess.CompletedProcess[str] | None:
    env = _git_env()
    try:
        return subprocess.run(["git", "-C", str(source), *args], capture_output=True, text=True,
                              timeout=GIT_TIMEOUT_SECONDS, env=env, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None


def git_info(source: Path) -> tuple[str | None, str | None]:
    """(commit, branch) of the repository holding ``source``; (None, None) outside one."""
    commit = _git(source, "rev-parse", "--verify", "-q", "HEAD")
    if commit is None or commit.returncode != 0:
        return None, None
    branch = _git(source, "rev-parse", "--abbrev-ref", "HEAD")
    return commit.stdout.strip() or None, (branch.stdout.strip() or None) if branch and branch.returncode == 0 else None


def git_version() -> str | None:
    result = _git(Path("."), "--version")
    return result.stdout.strip().removeprefix("git version ") if result and result.returncode == 0 else None


def git_commit(settings: Settings, source: Path, stamp: str) -> str | None:
    """Commit pending changes under ``source`` (never secrets or backups); returns the new commit or None."""
    top = _git(source, "rev-parse", "--show-toplevel")
    if top is None or top.returncode != 0:
        raise BackupFailed(f"--git-commit: {source} is not inside a git repository")
    excludes = [":(exclude,glob)**/.env*", ":(exclude,glob)**/.env*/**", ":(exclude,glob)**/node_modules/**"]
    excludes += [f":(exclude,glob)**/{glob}" for glob in (*settings.config_backup.encrypt, *settings.config_backup.exclude)]
    backup_root = settings.backup_dir.resolve()
    if backup_root.is_relative_to(source.resolve()):
        excludes.append(f":(exclude){backup_root.relative_to(source.resolve()).as_posix()}")
    added = _git(source, "add", "-A", "--", ".", *excludes)
    if added is None or added.returncode != 0:
        raise BackupFailed(f"--git-commit: git add failed: {_last_line(added)}")
    staged = _git(source, "diff", "--cached", "--quiet")
    if staged is not None and staged.returncode == 0:
        return None
    committed = _git(source, "commit", "-q", "-m", f"Auto: Configuration backup {stamp}")
    if committed is None or committed.returncode != 0:
        raise BackupFailed(f"--git-commit: git commit failed: {_last_line(committed)}",
                           hint="set user.name and user.email for that repository, or drop --git-commit")
    return git_info(source)[0]


def _last_line(result: subprocess.CompletedProcess[str] | None) -> str:
    if result is None:
        return "git is not installed or timed out"
    lines = [line for line in (result.stderr or result.stdout).splitlines() if line.strip()]
    return lines[-1].strip() if lines else f"exit {result.returncode}"


# --- the run ---------------------------------------------------------------------------------------


def run(settings: Settings, request: BackupRequest, on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None) -> BackupResult:
    from console import crypto

    started = time.time()
    progress = Throttle(on_progress)
    stamp = fresh_stamp(settings.root.kind_dir("config"))
    when = parse_stamp(stamp)
    source = source_dir(settings, request)
    committed = None
    if request.options.get("git_commit"):
        emit(progress, ProgressEvent("git commit", message=f"committing pending changes in {source}"))
        committed = git_commit(settings, source, stamp)
    emit(progress, ProgressEvent("scan", message=f"scanning {source}"))
    plan = build_plan(settings, source)
    passphrase = crypto.require_passphrase(settings) if plan.secrets else None
    commit, branch = git_info(source)
    directory = settings.root.kind_dir("config")
    tar_name = LAYOUT.name("tarball", stamp)
    encrypted: list[dict[str, Any]] = []
    with ArtifactSet(directory, settings.dir_mode_bits, settings.file_mode_bits) as files:
        with files.create(tar_name, compression="gzip") as out:
            _write_tarball(plan, out, progress, cancel)
        tar_info = files.infos[-1]
        for relative in plan.secrets:
            check_cancel(cancel)
            name = encrypted_name(relative, stamp)
            emit(progress, ProgressEvent("encrypt", message=f"encrypting {relative}"))
            try:
                handle = open(source / relative, "rb")  # noqa: SIM115 - closed below
            except OSError as exc:
                raise BackupFailed(f"cannot read {source / relative}: {exc.strerror}") from None
            with handle, files.create(name) as out:
                plain_bytes = crypto.encrypt_stream(handle, out, passphrase or "", cancel=cancel)
            info = files.infos[-1]
            encrypted.append({"role": f"enc:{quote(relative, safe='')}", "name": info.name, "path": relative,
                              "size_bytes": info.size_bytes, "sha256": info.sha256, "plaintext_bytes": plain_bytes})
        duration = time.time() - started
        manifest = {
            "backup_timestamp": when.isoformat(timespec="seconds"),
            "git_commit": commit,
            "git_branch": branch,
            "files_included": plan.archived,
            "encrypted_files": plan.secrets,
            "producer": f"backup-console {__version__}",
            "set_id": set_id_of("config", "", stamp, request.instance),
            "instance": request.instance,
            "timestamp": when.isoformat(timespec="seconds"),
            "duration_seconds": round(duration, 3),
            "source_dir": str(source),
            "git_committed": committed,
            "excludes": [*ALWAYS_EXCLUDED, ".env*", str(settings.backup_dir), *settings.config_backup.exclude],
            "skipped_files": plan.skipped,
            "dereferenced_links": plan.dereferenced,
            "archive_uncompressed_bytes": tar_info.raw_bytes,
            "artifacts": [
                {"role": "tarball", "name": tar_info.name, "size_bytes": tar_info.size_bytes, "sha256": tar_info.sha256,
                 "files": len(plan.archived)},
                *encrypted,
            ],
            "encryption": {"format": crypto.FORMAT_NAME, "kdf": "scrypt", "cipher": "AES-256-GCM"} if encrypted else None,
            "verification_status": "pending",
            "s3_uploaded": False,
            "s3_bucket": settings.s3.bucket or None,
            "retention_days": settings.retention.backup_days,
            **({"force_reason": request.force_reason} if request.force_reason else {}),
            "tool_versions": _tool_versions(),
        }
        metadata = files.write_json(LAYOUT.name("metadata", stamp), manifest)
    return BackupResult(
        "config", "", "ok",
        f"{len(plan.archived)} file(s) archived, {len(plan.secrets)} secret file(s) encrypted",
        set_id=set_id_of("config", "", stamp, settings.instance_of("config")), files=tuple(files.infos), metadata_path=metadata.path,
        duration_seconds=time.time() - started,
    )


def _write_tarball(plan: ConfigPlan, out: Any, progress: Throttle, cancel: CancelToken | None) -> None:
    done = 0
    dereferenced = set(plan.dereferenced)
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for relative in plan.archived:
            check_cancel(cancel)
            path = plan.source / relative
            try:
                if relative in dereferenced:
                    with open(path, "rb") as handle:
                        info = tar.gettarinfo(arcname=relative, fileobj=handle)
                        tar.addfile(info, handle)
                    done += info.size
                    emit(progress, ProgressEvent("archive", done, None))
                    continue
                info = tar.gettarinfo(str(path), arcname=relative)
                if info.islnk():  # a second name of one inode: store the content again, restores stay simple
                    info.type, info.linkname, info.size = tarfile.REGTYPE, "", path.stat().st_size
                if info.isreg():
                    with open(path, "rb") as handle:
                        tar.addfile(info, handle)
                else:
                    tar.addfile(info)
            except OSError as exc:
                raise BackupFailed(f"cannot read {path}: {exc.strerror or exc}",
                                   hint="fix its permissions or add it to config_backup.exclude") from None
            done += info.size
            emit(progress, ProgressEvent("archive", done, None))
    emit(progress, ProgressEvent("archive", done, None, finished=True))


def _tool_versions() -> dict[str, str | None]:
    return {**crypto_tool_versions(), "git": git_version()}
