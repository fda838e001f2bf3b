"""Fleet records in a moto bucket for the Fleet screen's tests: several hosts, as they publish them."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import boto3

from console import fleet

HOUR = 3600.0


def record(host: str, kind: str, instance: str, target: str, *, now: float, set_age_hours: float | None,
           published_age_hours: float, result: str = "ok", verification: str | None = "verified",
           schedule: str = "nightly") -> dict[str, Any]:
    """A record as ``console.fleet.build_record`` writes it, its times relative to ``now``."""
    published = now - published_age_hours * HOUR
    set_time = None if set_age_hours is None else now - set_age_hours * HOUR
    label = fleet.Target(kind, instance, target).label
    stamp = "" if set_time is None else dt.datetime.fromtimestamp(set_time).strftime("%Y%m%d_%H%M%S")
    return {"format": fleet.FORMAT, "host": host, "kind": kind, "instance": instance, "target": target,
            "label": label, "result": result, "message": "" if result == "ok" else "pre-flight failed: disk full",
            "run_set_id": None, "started_at": None, "finished_at": None, "finished": published,
            "duration_seconds": 1.0, "set_id": f"{label}/{stamp}" if stamp else None,
            "set_time": None, "set_timestamp": set_time, "size_bytes": 1000 if stamp else None, "files": 2,
            "verification": verification if stamp else None, "verified_at": None, "schedule": schedule,
            "scheduled": schedule != "off", "stale_hours": 26, "published_at": None, "published": published,
            "version": "test"}


def fleet_records(now: float) -> list[dict[str, Any]]:
    """Three hosts: db-1 fine but one failed verification; db-2 a failed run; old-host silent for 3 days."""
    return [
        record("db-1", "postgres", "main", "shop", now=now, set_age_hours=1, published_age_hours=0.5),
        record("db-1", "postgres", "analytics", "", now=now, set_age_hours=5, published_age_hours=0.2,
               verification="failed"),
        record("db-1", "redis", "cache", "", now=now, set_age_hours=2, published_age_hours=2, verification="unverified"),
        record("db-2", "rabbitmq", "default", "", now=now, set_age_hours=30, published_age_hours=1, result="failed"),
        record("db-2", "config", "app", "", now=now, set_age_hours=None, published_age_hours=1, schedule="off",
               result="failed"),
        record("old-host", "redis", "queue", "", now=now, set_age_hours=75, published_age_hours=72),
    ]


def put_records(s3: dict[str, object], records: list[dict[str, Any]], prefix: str = "") -> None:
    client = boto3.client("s3", endpoint_url=str(s3["s3.endpoint_url"]), region_name="us-east-1")

    class Prefixed:
        class s3:  # noqa: N801 - quacks like Settings.s3
            pass

    Prefixed.s3.prefix = prefix  # type: ignore[attr-defined]
    for item in records:
        key = fleet.record_key(Prefixed, item["host"], item["kind"], item["instance"], item["target"])  # type: ignore[arg-type]
        client.put_object(Bucket=str(s3["s3.bucket"]), Key=key, Body=json.dumps(item).encode())
