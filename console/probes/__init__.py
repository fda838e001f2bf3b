"""Service probes: one module per system, each returning a ProbeResult; run concurrently.

A probe never raises for a service problem: refused, wrong password, hanging or half-up are
all states with a one-line detail. Each client call carries the configured timeout, and
``probe_all`` also bounds the wait from outside, so one hanging service never delays the
others beyond its own timeout.
"""

from __future__ import annotations

import concurrent.futures
from typing import TYPE_CHECKING, Callable, Iterable

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


def probe(name: str, settings: Settings) -> ProbeResult:
    """Run one probe; a bug inside it becomes a DOWN result rather than an exception."""
    run, kind = SERVICES[name]
    try:
        return run(settings)
    except Exception as exc:  # a probe must never take the dashboard down
        return ProbeResult(name, kind, ServiceState.DOWN, f"probe error: {type(exc).__name__}: {exc}")


def probe_all(
    settings: Settings,
    names: Iterable[str] | None = None,
    on_result: Callable[[ProbeResult], None] | None = None,
) -> list[ProbeResult]:
    """Probe services concurrently, in SERVICES order; ``on_result`` sees each as it arrives."""
    wanted = list(names) if names is not None else list(SERVICES)
    deadline = settings.timeout_seconds + 2.0
    results: dict[str, ProbeResult] = {}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(wanted) or 1, thread_name_prefix="probe")
    try:
        futures = {pool.submit(probe, name, settings): name for name in wanted}
        try:
            for future in concurrent.futures.as_completed(futures, timeout=deadline):
                result = future.result()
                results[futures[future]] = result
                if on_result:
                    on_result(result)
        except concurrent.futures.TimeoutError:
            for future, name in futures.items():
                if name not in results:
                    result = ProbeResult(name, SERVICES[name][1], ServiceState.TIMEOUT,
                                         f"no answer within {settings.timeout_seconds:g} s")
                    results[name] = result
                    if on_result:
                        on_result(result)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a stuck client thread ends on its own socket timeout
    return [results[name] for name in wanted]
