"""Service probes: one module per system, each returning a ProbeResult; run concurrently.

A probe never raises for a service problem: refused, wrong password, hanging or half-up are
all states with a one-line detail. Each client call carries the configured timeout, and
``probe_all`` also bounds the wait from outside, so one hanging service never delays the
others beyond its own timeout.
"""

from __future__ import annotations

import concurrent.futures
from dataclasses import replace
from typing import TYPE_CHECKING, Callable, Iterable

from console.config import SECTION_OF_KIND
from console.instances import DEFAULT
from console.probes import certs, postgres, rabbitmq, redis, s3, storage
from console.probes.result import ProbeResult, ServiceState, Stopwatch

__all__ = ["SERVICES", "ProbeResult", "ServiceState", "Stopwatch", "probe", "probe_all"]

if TYPE_CHECKING:
    from console.config import Settings


SERVICES: dict[str, tuple[Callable[[Settings], ProbeResult], str]] = {
    "postgres": (postgres.probe, "postgresql"),
    "redis": (redis.probe, "redis"),
    "rabbitmq": (rabbitmq.probe, "rabbitmq"),
    "s3": (s3.probe, "s3"),
    "storage": (storage.probe, "local"),
    "certs": (certs.probe, "x509"),
}
"""name -> (its ``probe(settings) -> ProbeResult``, kind). The TUI imports this package in its
refresh worker, never before the first frame, so psycopg and friends do not delay it."""


MAX_PROBES_AT_ONCE = 32
"""Threads probing at once: twenty instances with a few hanging still answer within one timeout."""
DEADLINE_MARGIN_SECONDS = 0.5
"""``probe_all`` gives up on a probe this long after its own timeout (one probe makes several calls)."""


def probe(name: str, settings: Settings, instance: str = DEFAULT) -> ProbeResult:
    """Run one probe of one instance; a bug inside it becomes a DOWN result rather than an exception."""
    run, kind = SERVICES[name]
    try:
        return replace(run(settings.for_instance(name, instance)), instance=instance)
    except Exception as exc:  # a probe must never take the dashboard down
        return ProbeResult(name, kind, ServiceState.DOWN, f"probe error: {type(exc).__name__}: {exc}", instance=instance)


def jobs(settings: Settings, names: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """(service, instance) of every probe: one per configured instance of the services that have them."""
    wanted = list(names) if names is not None else list(SERVICES)
    return [(name, instance) for name in wanted
            for instance in ([item.name for item in settings.instances_of(name)] if name in SECTION_OF_KIND else [DEFAULT])]


def probe_all(
    settings: Settings,
    names: Iterable[str] | None = None,
    on_result: Callable[[ProbeResult], None] | None = None,
) -> list[ProbeResult]:
    """Probe every instance of the services concurrently (a bounded pool), in SERVICES order, then
    instance order; ``on_result`` sees each as it arrives. A probe still running at its timeout plus
    DEADLINE_MARGIN_SECONDS is reported as TIMEOUT and left to end on its own socket timeout."""
    wanted = jobs(settings, names)
    deadline = settings.timeout_seconds + DEADLINE_MARGIN_SECONDS
    results: dict[tuple[str, str], ProbeResult] = {}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(MAX_PROBES_AT_ONCE, len(wanted))),
                                                 thread_name_prefix="probe")
    try:
        futures = {pool.submit(probe, name, settings, instance): (name, instance) for name, instance in wanted}
        try:
            for future in concurrent.futures.as_completed(futures, timeout=deadline):
                result = future.result()
                results[futures[future]] = result
                if on_result:
                    on_result(result)
        except concurrent.futures.TimeoutError:
            for future, (name, instance) in futures.items():
                if (name, instance) not in results:
                    result = ProbeResult(name, SERVICES[name][1], ServiceState.TIMEOUT,
                                         f"no answer within {settings.timeout_seconds:g} s", instance=instance)
                    results[(name, instance)] = result
                    if on_result:
                        on_result(result)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a stuck client thread ends on its own socket timeout
    return [results[job] for job in wanted]
