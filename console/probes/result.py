"""What a probe returns: a service's state as a word, a one-line detail and its metrics."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Mapping


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
    instance: str = "default"
    """Which configured instance of the service (s3 and storage have only ``default``)."""

    @property
    def label(self) -> str:
        """``postgres`` for the default instance, ``postgres/analytics`` for another."""
        return self.name if self.instance == "default" else f"{self.name}/{self.instance}"

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "instance": self.instance,
            "kind": self.kind,
            "state": self.state.value,
            "detail": self.detail,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
            "metrics": dict(self.metrics),
        }


class Stopwatch:
    """Measures a probe's round trip in milliseconds."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    @property
    def ms(self) -> float:
        return (time.perf_counter() - self._start) * 1000.0
