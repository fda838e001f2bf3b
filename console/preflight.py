"""Pre-flight checks: named, automated checks that return pass / warn / fail with evidence.

Backups run them before starting; the checklist screen (and ``backup-console checklist``)
shows them item by item. A check id is ``<provider>.<name>`` (``postgres.long_transactions``);
each kind's descriptor carries its ``checks`` and ``COMMON_CHECKS`` are the shared ones
(``console.kinds.registry`` looks an id up). A check never
raises for a service problem: it returns FAIL with the reason as evidence.
"""

from __future__ import annotations

import concurrent.futures
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from console.errors import NotConfigured
from console.formatting import size
from console.status import Status

if TYPE_CHECKING:
    from console.config import Settings


@dataclass(frozen=True)
class CheckContext:
    """What a check may look at: settings, the target (a database name) and the run's options."""

    settings: Settings
    target: str | None = None
    upload: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    """The run's kind options (``--source``, ``--cert-dir``): checks look where the run will look."""


@dataclass(frozen=True)
class CheckResult:
    id: str
    title: str
    status: Status
    evidence: str
    details: Mapping[str, Any] = field(default_factory=dict)
    duration_ms: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "status": self.status.check_word, "evidence": self.evidence,
                "details": dict(self.details), "duration_ms": round(self.duration_ms, 1)}


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    run: Callable[[CheckContext], tuple[Status, str, Mapping[str, Any]] | tuple[Status, str]]


def run_check(check: Check, context: CheckContext) -> CheckResult:
    started = time.perf_counter()

    try:
        outcome = check.run(context)
    except NotConfigured as exc:  # the run refuses it as a configuration error (exit 2), not a failed check
        outcome = (Status.FAIL, exc.message, {"not_configured": True, "overridable": False, "fix": exc.message})
    except Exception as exc:  # a broken check is a failed check, not a crash
        outcome = (Status.FAIL, f"check error: {type(exc).__name__}: {exc}")
    status, evidence = outcome[0], outcome[1]
    details = outcome[2] if len(outcome) > 2 else {}  # type: ignore[misc]
    return CheckResult(check.id, check.title, status, evidence, details, (time.perf_counter() - started) * 1000)


def run_checks(checks: list[Check], context: CheckContext) -> list[CheckResult]:
    """Run checks concurrently (each bounded by its client timeouts), results in the given order."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(checks)), thread_name_prefix="check") as pool:
        return list(pool.map(lambda check: run_check(check, context), checks))


def blocking_failures(results: list[CheckResult]) -> list[CheckResult]:
    return [result for result in results if result.status is Status.FAIL]


def describe_failures(failures: list[CheckResult]) -> str:
    """One clause per distinct cause: five checks failing on one wrong password say it once."""
    by_cause: dict[str, list[str]] = {}
    for check in failures:
        by_cause.setdefault(check.evidence, []).append(check.title)
    return "; ".join(f"{titles[0]}: {cause}" if len(titles) == 1 else f"{cause} ({len(titles)} checks)"
                     for cause, titles in by_cause.items())


def unfixable_by_override(results: list[CheckResult]) -> list[CheckResult]:
    """Failures an override cannot help (``details["overridable"] is False``); ``details["fix"]`` says what does."""
    return [result for result in blocking_failures(results) if result.details.get("overridable") is False]


# --- checks shared by every kind ---------------------------------------------------------------


def destination_writable(directory: Path) -> tuple[Status, str]:
    """The backup destination exists (or can be created) and accepts a new file."""
    from console.probes.storage import is_writable, nearest_existing

    existing = nearest_existing(directory)
    ok, why = is_writable(existing)
    if not ok:
        return Status.FAIL, f"{existing} is not writable ({why})"
    if existing != directory:
        return Status.OK, f"{directory} will be created under {existing} (writable)"
    return Status.OK, f"{directory} is writable"


def free_space(directory: Path, needed_bytes: int, what: str) -> tuple[Status, str, dict[str, int]]:
    """At least ``needed_bytes`` free at the destination; evidence says how it compares."""
    from console.probes.storage import nearest_existing

    free = shutil.disk_usage(nearest_existing(directory)).free
    details = {"free_bytes": free, "needed_bytes": needed_bytes}
    if free >= needed_bytes:
        return Status.OK, f"free {size(free)} >= {what} ({size(needed_bytes)})", details
    return Status.FAIL, f"free {size(free)} < {what} ({size(needed_bytes)})", details


def s3_reachable(context: CheckContext) -> tuple[Status, str]:
    """The configured bucket answers (skipped when this run does not upload)."""
    if not context.upload:
        return Status.SKIP, "not uploading in this run"
    from console.probes import s3

    result = s3.probe(context.settings)
    if result.state.value == "up":
        return Status.OK, result.detail
    return Status.FAIL, result.detail


COMMON_CHECKS: dict[str, Check] = {
    "s3_reachable": Check("common.s3_reachable", "Network connectivity to S3 (if uploading)", s3_reachable),
}
