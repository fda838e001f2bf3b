"""Runs one backup of any kind (lock, pre-flight gate, the kind's run, the run log), and frames every
restore (read-only guard, lock, the run log).

Both faces call ``execute``; so does cron through the CLI. Whatever happens (a ConsoleError, any
other exception, an interrupt), one RunRecord is appended, so the dashboard, ``monitor`` and the
alerts see failed runs as well as good ones.
"""

from __future__ import annotations

import os
import re
import time
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Iterator

from console import fleet
from console.artifacts import remove_stale_partials
from console.catalog import scan
from console.errors import Cancelled, ConsoleError, NotConfigured, PreflightFailed, ReadOnlyRefused, as_console_error
from console.instances import label as instance_label
from console.instances import lock_name as instance_lock_name
from console.kinds import registry
from console.kinds.base import BackupRequest, BackupResult
from console.lock import BackupLock, LockInfo
from console.offsite.upload import upload_set
from console.preflight import CheckContext, CheckResult, blocking_failures, describe_failures, unfixable_by_override
from console.progress import CancelToken, ProgressCallback, ProgressEvent, emit
from console.runlog import RunRecord, read_runs, record_run

if TYPE_CHECKING:
    from console.config import Settings

_LOCK_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def scoped(settings: Settings, request: BackupRequest) -> Settings:
    """The settings as the request's instance sees them (its server, its directory)."""
    return settings.for_instance(request.kind, request.instance)


def lock_name(settings: Settings, request: BackupRequest) -> str:
    """The kind's lock name, and the instance's name beside it when it is not the default."""
    return instance_lock_name(registry.get(request.kind).lock_name(settings, request), request.instance)


def preflight(settings: Settings, request: BackupRequest) -> list[CheckResult]:
    kind = registry.get(request.kind)
    settings = scoped(settings, request)
    context = CheckContext(settings, request.target, request.upload, dict(request.options or {}))
    return registry.run_checks(list(kind.preflight_of(request)), context)


def execute(
    settings: Settings,
    request: BackupRequest,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> BackupResult:
    """Run a backup end to end and return its result; any exception becomes a failed result.

    Raises:
        LockHeld: another run of the same target holds the lock (nothing is recorded).
    """
    kind = registry.get(request.kind)
    unscoped = settings
    settings = scoped(settings, request)
    target = request.target or ""
    what = f"{instance_label(request.kind, request.instance)} backup {target}".strip()
    lock = BackupLock(settings.backup_dir, lock_name(settings, request), what)
    started = time.time()
    with lock:
        checks: tuple[CheckResult, ...] = ()
        result = BackupResult(request.kind, target, "cancelled", "interrupted before it finished", instance=request.instance)
        try:
            if lock.stale is not None:
                removed = remove_stale_partials(settings.root.kind_dir(request.kind), lock.stale.pid)
                emit(on_progress, ProgressEvent("lock", message=(
                    f"recovered a stale lock left by pid {lock.stale.pid}; removed {len(removed)} partial file(s)")))
            emit(on_progress, ProgressEvent("preflight", message="running pre-flight checks"))
            checks = tuple(preflight(settings, request))
            unconfigured = [check for check in checks if check.details.get("not_configured")]
            if unconfigured:  # no override can make up for a missing setting: a configuration error, exit 2
                raise NotConfigured(unconfigured[0].evidence)
            failures = blocking_failures(list(checks))
            cannot_override = unfixable_by_override(list(checks))
            if cannot_override:  # --force would only fail later: name what fixes it instead
                names = describe_failures(cannot_override)
                raise PreflightFailed(f"pre-flight failed: {names}", hint=str(cannot_override[0].details.get("fix")))
            if failures and not request.force_reason:
                names = describe_failures(failures)
                raise PreflightFailed(f"pre-flight failed: {names}",
                                      hint="fix it, or override with --force --reason \"...\"")
            result = kind.run(settings, request, on_progress=on_progress, cancel=cancel)
            result = replace(result, checks=checks, instance=request.instance)
            if request.upload and result.ok:
                result = _upload(settings, result, on_progress, cancel)
        except Cancelled as exc:
            result = BackupResult(request.kind, target, "cancelled", exc.message, checks=checks,
                                  duration_seconds=time.time() - started, instance=request.instance)
        except NotConfigured as exc:  # recorded like any failure, and still exit 2 for the face
            result = BackupResult(request.kind, target, "failed", exc.message, checks=checks,
                                  duration_seconds=time.time() - started, instance=request.instance)
            raise
        except ConsoleError as exc:
            result = BackupResult(request.kind, target, "failed", exc.message, checks=checks,
                                  duration_seconds=time.time() - started, extra={"hint": exc.hint} if exc.hint else {},
                                  instance=request.instance)
        except Exception as exc:  # noqa: BLE001 - a broken stream, a vanished file: still a failed run, on record
            message = as_console_error(exc, what).message
            result = BackupResult(request.kind, target, "failed", message, checks=checks,
                                  duration_seconds=time.time() - started,
                                  extra={"hint": "nothing was kept from this run; run it again, or with --debug for "
                                                 "the traceback", "error_type": type(exc).__name__},
                                  instance=request.instance)
        finally:
            # Also on KeyboardInterrupt or SystemExit: every run that started ends with a record.
            record_run(settings.backup_dir, RunRecord(
                action="backup", kind=request.kind, target=target, status=result.status, started=started,
                finished=time.time(), message=result.message, set_id=result.set_id,
                force_reason=request.force_reason, instance=request.instance,
            ))
        result = _publish_fleet_record(unscoped, result, target)
    return result


def _publish_fleet_record(settings: Settings, result: BackupResult, target: str) -> BackupResult:
    """The run's fleet record (``console.fleet``), with the shared ``s3.prefix`` of the unscoped settings.
    A failure to publish leaves the run as it was, says so in its message and extra, and in the run log."""
    started = time.time()
    outcome = fleet.publish(settings, [fleet.Target(result.kind, result.instance, target)])
    if outcome is None:
        return result
    if not outcome.ok:
        record_run(settings.backup_dir, RunRecord(
            action="fleet", kind=result.kind, target=target, status="failed", started=started, finished=time.time(),
            message=outcome.note, set_id=result.set_id, instance=result.instance))
    message = result.message if outcome.ok else f"{result.message}; {outcome.note}"
    return replace(result, message=message, extra={**result.extra, "fleet": outcome.as_extra()})


def _upload(settings: Settings, result: BackupResult, on_progress: ProgressCallback | None,
            cancel: CancelToken | None) -> BackupResult:
    """``backup ... --upload``: copy the new set to S3; a failed upload fails the run but keeps the set."""
    backup_set = scan(settings.backup_dir, [result.kind]).find(result.set_id or "")  # set ids name the instance
    try:
        if backup_set is None:
            raise ConsoleError(f"cannot find the new set {result.set_id} to upload")
        uploaded = upload_set(settings, backup_set, on_progress=on_progress, cancel=cancel)
    except Cancelled:
        raise
    except ConsoleError as exc:
        return replace(result, status="failed",
                       message=f"backup ok ({result.set_id}, kept locally) but the upload to S3 failed: {exc.message}",
                       extra={**result.extra, **({"hint": exc.hint} if exc.hint else {})})
    return replace(result, message=f"{result.message}; uploaded to s3://{uploaded.bucket}/ "
                                   f"({len(uploaded.objects)} object(s))",
                   extra={**result.extra, "s3": uploaded.s3_section()})


class RestoreRun:
    """What a restore says about itself when it ends well (the runner records failures on its own)."""

    def __init__(self) -> None:
        self.status = "failed"
        self.message = ""
        self.interrupted: RunRecord | None = None
        """The record of a restore into this target that died mid-way (SIGKILL, OOM, power cut) with no
        good restore of it since: the target may hold what that run left half-written."""

    def done(self, message: str, ok: bool = True) -> None:
        self.status, self.message = ("ok" if ok else "failed"), message


@contextmanager
def restore_run(settings: Settings, kind: str, set_id: str, target: str) -> Iterator[RestoreRun]:
    """Every restore of every kind runs inside this: the read-only guard, one lock per restore target
    (two restores into the same database or directory never overlap), and a run-log record
    whatever happens."""
    if settings.read_only:
        raise ReadOnlyRefused(f"restore {kind}")
    run = RestoreRun()
    instance = settings.instance_of(kind)
    where = instance_label(kind, instance)
    lock = BackupLock(settings.backup_dir, "restore-" + _LOCK_UNSAFE.sub("_", f"{where}-{target}".strip("-"))[:120],
                      f"{where} restore into {target or 'its target'}")
    started = time.time()
    with lock:
        if lock.stale is not None and lock.stale.pid != os.getpid():
            _record_interrupted(settings, kind, instance, target, lock.stale)
        run.interrupted = _interrupted_since_last_good(settings, kind, instance, target)
        try:
            yield run
        except Cancelled as exc:
            run.status, run.message = "cancelled", exc.message
            raise
        except ConsoleError as exc:
            run.status, run.message = "failed", exc.message
            raise
        except Exception as exc:  # noqa: BLE001 - recorded, and shown as one line naming what failed
            error = as_console_error(exc, f"restore of {set_id}" + (f" into {target}" if target else ""))
            run.status, run.message = "failed", error.message
            raise error from exc
        finally:
            record_run(settings.backup_dir, RunRecord(
                action="restore", kind=kind, target=target, status=run.status, started=started,
                finished=time.time(), message=run.message, set_id=set_id, instance=instance))


def _record_interrupted(settings: Settings, kind: str, instance: str, target: str, dead: LockInfo) -> None:
    """A run killed before it could record itself gets its record from the next run of the same target."""
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(dead.started))
    record_run(settings.backup_dir, RunRecord(
        action="restore", kind=kind, target=target, status="failed", started=dead.started, finished=time.time(),
        message=f"interrupted: the restore into {target or 'its target'} by pid {dead.pid} (started {since}) ended "
                "without finishing (killed?); found by the next restore of that target",
        pid=dead.pid, host=dead.host, instance=instance, extra={"interrupted": True}))


def _interrupted_since_last_good(settings: Settings, kind: str, instance: str, target: str) -> RunRecord | None:
    interrupted = None
    for record in read_runs(settings.backup_dir):
        if (record.action, record.kind, record.instance, record.target) != ("restore", kind, instance, target):
            continue
        if record.status == "ok":
            interrupted = None
        elif isinstance(record.extra, dict) and record.extra.get("interrupted"):
            interrupted = record
    return interrupted
