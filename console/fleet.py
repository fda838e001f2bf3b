"""Fleet records: what this backup host tells the others through the bucket.

After every backup run and every verify run, each target the run touched gets one small JSON
record at ``<s3.prefix>/_fleet/<host>/<kind>@<instance>[/<target>].json``, overwritten each time
(the latest state per target, never a history). ``status --fleet`` and the Fleet screen read every
host's records (``console.fleet_view``); no daemon, no database: the bucket every host already
writes is the meeting point.

A record says what an operator asks of a remote host: its last run's result, the newest set, that
set's size and verification, when, and the schedule it should keep. It is built from the local
state (the run log, the catalog and the set's metadata), so a verify run republishes the same
shape with the new verification. It holds no secret and no local path: settings values never go
in, only names, counts, times and the run's message (URL passwords masked).

Publishing is best effort: a failure is returned to the caller (who notes it on the run), never
raised, so a bucket that is down cannot fail a backup that succeeded.
"""

from __future__ import annotations

import json
import re
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable
from urllib.parse import quote

from console import __version__
from console.catalog import scan
from console.errors import describe_unexpected
from console.instances import DEFAULT, target_label
from console.redact import mask_urls_in
from console.runlog import read_runs
from console.verify.state import set_verification

if TYPE_CHECKING:
    from console.catalog import BackupSet
    from console.config import Settings
    from console.runlog import RunRecord

FORMAT = "backup-console-fleet/1"
FLEET_DIR = "_fleet"
MESSAGE_LIMIT = 300
_HOST_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class PublishOutcome:
    """What publishing did: the keys written, or why it stopped (the first error ends it)."""

    keys: tuple[str, ...] = ()
    error: str | None = None
    wanted: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_extra(self) -> dict[str, Any]:
        """What the run records under ``extra["fleet"]``."""
        if self.ok:
            return {"published": True, "keys": list(self.keys)}
        return {"published": False, "error": self.error, "keys": list(self.keys)}

    @property
    def note(self) -> str:
        """The words added to the run's message when publishing failed."""
        done = f" ({len(self.keys)} of {self.wanted} published)" if self.keys else ""
        return f"fleet record not published: {self.error}{done}"


@dataclass(frozen=True)
class Target:
    kind: str
    instance: str = DEFAULT
    target: str = ""
    """The database for PostgreSQL, else "" (the kind's one target)."""

    @property
    def label(self) -> str:
        return target_label(self.kind, self.instance, self.target)


def safe_host(name: str) -> str:
    """A host name as one key segment: letters, digits, ``.``, ``_`` and ``-`` (others become ``-``)."""
    return _HOST_UNSAFE.sub("-", name).strip("-.") or "unknown-host"


def host_of(settings: Settings) -> str:
    """This backup host's name in the fleet: ``host_name``, else the machine's."""
    return safe_host(settings.host_name or socket.gethostname())


def fleet_prefix(settings: Settings) -> str:
    """``<s3.prefix>/_fleet/`` (just ``_fleet/`` without a prefix)."""
    prefix = settings.s3.prefix.strip("/")
    return f"{prefix}/{FLEET_DIR}/" if prefix else f"{FLEET_DIR}/"


def record_key(settings: Settings, host: str, kind: str, instance: str, target: str) -> str:
    """``<s3.prefix>/_fleet/<host>/<kind>@<instance>[/<target>].json``; a database name is URL-quoted."""
    name = f"{kind}@{instance}" + (f"/{quote(target, safe='-_.')}" if target else "")
    return f"{fleet_prefix(settings)}{safe_host(host)}/{name}.json"


def _iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds")


def _last_run(runs: list[RunRecord], target: Target) -> RunRecord | None:
    for run in reversed(runs):
        if run.action == "backup" and run.kind == target.kind and run.instance == target.instance \
                and (run.target or "") == target.target:
            return run
    return None


def _newest_set(settings: Settings, target: Target) -> BackupSet | None:
    wanted = (target.kind, target.instance, target.target)
    newest = [item for item in scan(settings.backup_dir, [target.kind]).latest_per_target() if item.target_key == wanted]
    return newest[0] if newest else None


def build_record(settings: Settings, target: Target, host: str | None = None, now: float | None = None,
                 runs: list[RunRecord] | None = None) -> dict[str, Any]:
    """The record of one target from the local state: its last backup run, its newest set and that
    set's own verification. ``settings`` are the unscoped ones (the target names its instance)."""
    now = time.time() if now is None else now
    run = _last_run(read_runs(settings.backup_dir) if runs is None else runs, target)
    newest = _newest_set(settings, target)
    try:
        instance = settings.instance(target.kind, target.instance)
        schedule = instance.schedule
    except Exception:  # noqa: BLE001 - an instance no longer configured still has a record to publish
        schedule = "off"
    scheduled = schedule != "off" and target.kind in settings.alerts.scheduled_kinds
    verification, verified_at = None, None
    if newest is not None:
        verification, verified_at, _report = set_verification(newest)
    message = ""
    if run is not None and run.status != "ok":
        message = mask_urls_in(run.message)[:MESSAGE_LIMIT]
    return {
        "format": FORMAT,
        "host": safe_host(host or host_of(settings)),
        "kind": target.kind,
        "instance": target.instance,
        "target": target.target,
        "label": target.label,
        "result": run.status if run is not None else ("ok" if newest is not None else "unknown"),
        "message": message,
        "run_set_id": run.set_id if run is not None else None,
        "started_at": _iso(run.started) if run is not None else None,
        "finished_at": _iso(run.finished) if run is not None else None,
        "finished": round(run.finished, 3) if run is not None else None,
        "duration_seconds": round(run.duration_seconds, 3) if run is not None else None,
        "set_id": newest.set_id if newest is not None else None,
        "set_time": newest.timestamp.isoformat(timespec="seconds") if newest is not None else None,
        "set_timestamp": round(newest.timestamp.timestamp(), 3) if newest is not None else None,
        "size_bytes": newest.size_bytes if newest is not None else None,
        "files": len(newest.files) if newest is not None else 0,
        "verification": verification,
        "verified_at": verified_at,
        "schedule": schedule,
        "scheduled": scheduled,
        "stale_hours": settings.alerts.stale_hours,
        "published_at": _iso(now),
        "published": round(now, 3),
        "version": __version__,
    }


def publish(settings: Settings, targets: Iterable[Target], client: Any | None = None) -> PublishOutcome | None:
    """Write the record of each target; None when no bucket is configured. Never raises for S3:
    the first failure ends it and is returned (the caller notes it on its run)."""
    if not settings.s3.bucket:
        return None
    wanted = list(dict.fromkeys(targets))
    if not wanted:
        return PublishOutcome()
    written: list[str] = []
    try:
        from botocore import exceptions as bexc

        from console.probes.s3 import describe_error, make_client


        host = host_of(settings)
        runs = read_runs(settings.backup_dir)
        client = client or make_client(settings, timeout=max(settings.timeout_seconds, 5.0), retries=2)
        extra: dict[str, Any] = {}
        if settings.s3.sse == "AES256":
            extra["ServerSideEncryption"] = "AES256"
        elif settings.s3.sse == "aws:kms":
            extra["ServerSideEncryption"] = "aws:kms"
            if settings.s3.kms_key_id:
                extra["SSEKMSKeyId"] = settings.s3.kms_key_id
        for target in wanted:
            record = build_record(settings, target, host=host, runs=runs)
            key = record_key(settings, host, target.kind, target.instance, target.target)
            body = json.dumps(record, sort_keys=True, indent=1).encode()
            try:
                client.put_object(Bucket=settings.s3.bucket, Key=key, Body=body, ContentType="application/json",
                                  **extra)
            except (bexc.BotoCoreError, bexc.ClientError) as exc:
                return PublishOutcome(tuple(written), describe_error(exc, settings)[1], len(wanted))
            written.append(key)
    except Exception as exc:  # noqa: BLE001 - best effort: whatever it is, the run it follows stands
        return PublishOutcome(tuple(written), describe_unexpected(exc), len(wanted))
    return PublishOutcome(tuple(written), None, len(wanted))
