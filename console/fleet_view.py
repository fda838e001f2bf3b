"""The fleet as the bucket tells it: every host's fleet records (``console.fleet``), judged.

One use case for both faces: ``status --fleet [--json]`` and the Fleet screen show what
``read_fleet`` returns. Per target: its last run's result, the age of its newest set, that set's
verification, and the problems in words:

- ``FAILED``: the last run failed (or was cancelled); ``VERIFY FAILED``: the newest set failed its
  verification;
- ``STALE``: a scheduled target (``nightly`` or ``HH:MM``: daily) whose newest set is older than
  its host's ``alerts.stale_hours`` (written in the record; 26 h by default: a day and two hours
  of grace), or that has none. ``schedule: off`` is never stale.

A host is ``STALE`` when it has scheduled targets and none of its records is newer than that
threshold: the host itself has gone silent (powered off, lost its credentials, its timer
disabled), which the targets' ages alone would only say one by one.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable

from console.errors import ConsoleError, NotConfigured
from console.fleet import FORMAT, fleet_prefix

if TYPE_CHECKING:
    from console.config import Settings

FAILED, VERIFY_FAILED, STALE = "FAILED", "VERIFY FAILED", "STALE"
READERS = 8
"""Records fetched at once."""


class FleetUnavailable(ConsoleError):
    """The bucket holding the fleet records could not be listed or read."""


@dataclass(frozen=True)
class FleetTarget:
    record: dict[str, Any]
    age_seconds: float | None
    """Age of the newest set; None when the target has none."""
    record_age_seconds: float | None
    problems: tuple[str, ...]
    reasons: tuple[str, ...]

    @property
    def host(self) -> str:
        return str(self.record.get("host", "?"))

    @property
    def label(self) -> str:
        return str(self.record.get("label") or self.record.get("kind", "?"))

    @property
    def result(self) -> str:
        return str(self.record.get("result") or "unknown")

    @property
    def verification(self) -> str:
        return str(self.record.get("verification") or "-")

    @property
    def stale(self) -> bool:
        return STALE in self.problems

    @property
    def state(self) -> str:
        """``OK`` or the problems in words, worst first (``FAILED, STALE``)."""
        return ", ".join(self.problems) if self.problems else "OK"

    def as_json(self) -> dict[str, Any]:
        return {**self.record, "age_seconds": None if self.age_seconds is None else round(self.age_seconds),
                "record_age_seconds": None if self.record_age_seconds is None else round(self.record_age_seconds),
                "state": self.state, "stale": self.stale, "problems": list(self.problems),
                "reasons": list(self.reasons)}


@dataclass(frozen=True)
class FleetHost:
    name: str
    targets: tuple[FleetTarget, ...]
    last_seen: float | None
    """When its newest record was published."""
    stale: bool
    reason: str

    @property
    def ok(self) -> bool:
        return not self.stale and not any(target.problems for target in self.targets)

    def as_json(self, now: float) -> dict[str, Any]:
        return {"host": self.name, "stale": self.stale, "reason": self.reason, "ok": self.ok,
                "last_seen_seconds": None if self.last_seen is None else round(max(0.0, now - self.last_seen)),
                "targets": [target.as_json() for target in self.targets]}


@dataclass(frozen=True)
class FleetView:
    hosts: tuple[FleetHost, ...]
    unreadable: tuple[str, ...]
    """Keys under ``_fleet/`` that are not fleet records (with why)."""
    generated: float
    location: str
    """``s3://bucket/prefix/_fleet/``."""

    @property
    def ok(self) -> bool:
        return all(host.ok for host in self.hosts)

    @property
    def targets(self) -> list[FleetTarget]:
        return [target for host in self.hosts for target in host.targets]

    def summary(self) -> str:
        """One line: how many hosts and targets, and how many are in trouble."""
        stale_hosts = sum(host.stale for host in self.hosts)
        failed = sum(any(p in (FAILED, VERIFY_FAILED) for p in t.problems) for t in self.targets)
        stale = sum(t.stale for t in self.targets)
        if not self.hosts:
            return f"no fleet records under {self.location}"
        word = "OK" if self.ok else "PROBLEMS"
        return (f"{word}: {len(self.hosts)} host(s), {len(self.targets)} target(s); {failed} failed, {stale} stale "
                f"target(s), {stale_hosts} stale host(s)")

    def as_json(self) -> dict[str, Any]:
        return {"generated_at": datetime.fromtimestamp(self.generated).astimezone().isoformat(timespec="seconds"),
                "location": self.location, "ok": self.ok, "summary": self.summary(),
                "hosts": [host.as_json(self.generated) for host in self.hosts], "unreadable": list(self.unreadable)}


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.0f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def judge(record: dict[str, Any], now: float, default_stale_hours: float) -> FleetTarget:
    """One record against the clock: its problems and why."""
    threshold = float(record.get("stale_hours") or default_stale_hours) * 3600
    set_time = record.get("set_timestamp")
    published = record.get("published")
    age = None if not isinstance(set_time, (int, float)) else max(0.0, now - set_time)
    record_age = None if not isinstance(published, (int, float)) else max(0.0, now - published)
    problems: list[str] = []
    reasons: list[str] = []
    result = str(record.get("result") or "unknown")
    if result in ("failed", "cancelled"):
        problems.append(FAILED)
        reasons.append(f"last run {result}" + (f": {record['message']}" if record.get("message") else ""))
    if record.get("verification") == "failed":
        problems.append(VERIFY_FAILED)
        reasons.append(f"newest set {record.get('set_id')} failed its verification")
    if record.get("scheduled", True):
        if age is None:
            problems.append(STALE)
            reasons.append("no backup set yet")
        elif age > threshold:
            problems.append(STALE)
            reasons.append(f"newest backup {_hours(age)} old (stale after {_hours(threshold)}, schedule "
                           f"{record.get('schedule', 'nightly')})")
    return FleetTarget(record, age, record_age, tuple(problems), tuple(reasons))


def evaluate(records: Iterable[dict[str, Any]], now: float, default_stale_hours: float,
             unreadable: Iterable[str] = (), location: str = "") -> FleetView:
    """Records (as read from the bucket) judged at ``now``, grouped by host (hosts and targets by name)."""
    by_host: dict[str, list[FleetTarget]] = {}
    for record in records:
        target = judge(record, now, default_stale_hours)
        by_host.setdefault(target.host, []).append(target)
    hosts = []
    for name in sorted(by_host):
        targets = tuple(sorted(by_host[name], key=lambda t: t.label))
        published = [t.record["published"] for t in targets if isinstance(t.record.get("published"), (int, float))]
        last_seen = max(published) if published else None
        scheduled = [t for t in targets if t.record.get("scheduled", True)]
        threshold = max((float(t.record.get("stale_hours") or default_stale_hours) for t in scheduled),
                        default=default_stale_hours) * 3600
        stale, reason = False, ""
        if scheduled and (last_seen is None or now - last_seen > threshold):
            stale = True
            silent = "ever" if last_seen is None else _hours(now - last_seen)
            reason = f"no record from {name} for {silent} (stale after {_hours(threshold)})"
        hosts.append(FleetHost(name, targets, last_seen, stale, reason))
    return FleetView(tuple(hosts), tuple(unreadable), now, location)


def read_records(settings: Settings, client: Any | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Every fleet record under ``<s3.prefix>/_fleet/``, and the keys that are not one (with why).

    Raises:
        NotConfigured: no bucket is configured.
        FleetUnavailable: the bucket cannot be listed (one line naming bucket and endpoint).
    """
    if not settings.s3.bucket:
        raise NotConfigured("the fleet view reads the bucket: no S3 bucket is configured (BACKUP_S3_BUCKET or "
                            "s3.bucket)")
    from botocore import exceptions as bexc

    from console.probes.s3 import describe_error, make_client

    bucket = settings.s3.bucket
    client = client or make_client(settings, timeout=max(settings.timeout_seconds, 5.0), retries=2,
                                   connections=READERS + 2)
    prefix = fleet_prefix(settings)
    try:
        keys = [entry["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                for entry in page.get("Contents", [])]
    except (bexc.BotoCoreError, bexc.ClientError) as exc:
        raise FleetUnavailable(f"cannot list the fleet records: {describe_error(exc, settings)[1]}") from None

    def fetch(key: str) -> tuple[str, dict[str, Any] | None, str]:
        if not key.endswith(".json"):
            return key, None, "not a .json record"
        try:
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            record = json.loads(body)
        except (bexc.BotoCoreError, bexc.ClientError) as exc:
            return key, None, describe_error(exc, settings)[1]
        except ValueError:
            return key, None, "not JSON"
        if not isinstance(record, dict) or not str(record.get("format", "")).startswith(FORMAT.split("/")[0] + "/"):
            return key, None, "not a fleet record"
        return key, record, ""

    records, unreadable = [], []
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        for key, record, why in pool.map(fetch, keys):
            if record is None:
                unreadable.append(f"{key}: {why}")
            else:
                records.append(record)
    return records, unreadable


def read_fleet(settings: Settings, now: float | None = None, client: Any | None = None) -> FleetView:
    """The fleet view at ``now`` (default: the clock)."""
    records, unreadable = read_records(settings, client)
    location = f"s3://{settings.s3.bucket}/{fleet_prefix(settings)}"
    return evaluate(records, time.time() if now is None else now, settings.alerts.stale_hours, unreadable, location)
