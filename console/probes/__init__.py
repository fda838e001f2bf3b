"""Service probes: one module per system, each returning a ProbeResult; run concurrently.

A probe never raises for a service problem: refused, wrong password, hanging or half-up are
all states with a one-line detail. Each client call carries the configured timeout, and
``probe_all`` also bounds the wait from outside, so one hanging service never delays the
others beyond its own timeout.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

if TYPE_CHECKING:
    from console.config import Settings


class ServiceState(str, Enum):
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    TIMEOUT = "timeout"
    UNCONFIGURED = "unconfigured"
    """Not set up in the configuration (e.g. no S3 bucket): neither healthy nor failing."""

    @property
    def healthy(self) -> bool:
        return self in (ServiceState.UP, ServiceState.UNCONFIGURED)


@dataclass(frozen=True)
class ProbeResult:
    name: str
    """Configuration section of the service: postgres, redis, rabbitmq, s3, storage."""
    kind: str
    """The system: postgresql, redis, rabbitmq, s3, local."""
    state: ServiceState
    detail: str
    latency_ms: float | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    checked_at: float = field(default_factory=time.time)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "state": self.state.value,
            "detail": self.detail,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
            "metrics": dict(self.metrics),
        }


SERVICES: dict[str, tuple[str, str]] = {
    "postgres": ("console.probes.postgres", "postgresql"),
    "redis": ("console.probes.redis", "redis"),
    "rabbitmq": ("console.probes.rabbitmq", "rabbitmq"),
    "s3": ("console.probes.s3", "s3"),
    "storage": ("console.probes.storage", "local"),
    "certs": ("console.probes.certs", "x509"),
}
"""name -> (module with a ``probe(settings) -> ProbeResult``, kind). Modules import lazily so
the first frame of the TUI is not held up by psycopg, boto3 and friends."""


def probe(name: str, settings: Settings) -> ProbeResult:
    """Run one probe; a bug inside it becomes a DOWN result rather than an exception."""
    module_name, kind = SERVICES[name]
    try:
        module = importlib.import_module(module_name)
        return module.probe(settings)
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


class Stopwatch:
    """Measures a probe's round trip in milliseconds."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    @property
    def ms(self) -> float:
        return (time.perf_counter() - self._start) * 1000.0
