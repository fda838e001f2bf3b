"""Backups of several instances at once (``backup KIND --all``): at most ``max_parallel_backups``
running, never two on the same server unless ``parallel_same_server`` allows it.

Each instance's targets run one after the other (two databases of one cluster compete for the
same disks anyway); the instances run side by side. Every run goes through ``runner.execute``, so
each has its own lock, pre-flight and run-log record, whatever happens to the others.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from console.errors import ConsoleError, LockHeld
from console.instances import label
from console.kinds.base import BackupRequest, BackupResult
from console.progress import CancelToken, ProgressCallback

if TYPE_CHECKING:
    from console.config import Settings


@dataclass(frozen=True)
class InstanceRun:
    """The requests of one instance, run in order."""

    kind: str
    instance: str
    requests: tuple[BackupRequest, ...]

    @property
    def label(self) -> str:
        return label(self.kind, self.instance)


def server_key(settings: Settings, kind: str, instance: str) -> tuple[str, str] | None:
    """``(host, port)`` of the server an instance backs up; None for a tree on this machine (config, certs)."""
    section = settings.instance(kind, instance).section
    host = getattr(section, "management_url", "") or getattr(section, "host", None)
    if not host:
        return None
    port = getattr(section, "port", None) or getattr(section, "management_port", None)
    return (str(host), str(port or ""))


def run_instances(
    settings: Settings,
    runs: list[InstanceRun],
    execute: Callable[[Settings, BackupRequest, ProgressCallback | None, CancelToken | None], BackupResult],
    progress_for: Callable[[InstanceRun], ProgressCallback | None] = lambda run: None,
    cancel: CancelToken | None = None,
    on_result: Callable[[BackupResult], None] = lambda result: None,
) -> list[BackupResult]:
    """Run every instance's requests; results in the order of ``runs`` (and of their requests).

    The next instance to start is the first waiting one whose server is free, so a run waiting
    for its server never holds one of the ``max_parallel_backups`` places.
    """
    if len(runs) == 1:  # one instance: its errors are the command's (exit 2 not configured, 11 locked)
        results_of_one = []
        for request in runs[0].requests:
            result = execute(settings, request, progress_for(runs[0]), cancel)
            results_of_one.append(result)
            on_result(result)
            if cancel is not None and cancel.cancelled:
                break
        return results_of_one
    limit = max(1, settings.max_parallel_backups)
    keys = [None if settings.parallel_same_server else server_key(settings, run.kind, run.instance) for run in runs]
    results: dict[int, list[BackupResult]] = {}
    condition = threading.Condition()
    running: set[int] = set()
    busy: set[tuple[str, str]] = set()
    waiting = list(range(len(runs)))

    def one(index: int) -> None:
        done: list[BackupResult] = []
        try:
            for request in runs[index].requests:
                if cancel is not None and cancel.cancelled:
                    break
                try:
                    result = execute(settings, request, progress_for(runs[index]), cancel)
                except (LockHeld, ConsoleError) as exc:  # one instance's trouble does not stop the others
                    result = BackupResult(request.kind, request.target or "", "failed", exc.message,
                                          instance=request.instance, extra={"hint": exc.hint} if exc.hint else {})
                done.append(result)
                on_result(result)
        finally:
            with condition:
                results[index] = done
                running.discard(index)
                if keys[index] is not None:
                    busy.discard(keys[index])  # type: ignore[arg-type]
                condition.notify_all()

    threads = []
    with condition:
        while waiting or running:
            startable = [index for index in waiting if keys[index] is None or keys[index] not in busy]
            if startable and len(running) < limit and not (cancel is not None and cancel.cancelled):
                index = startable[0]
                waiting.remove(index)
                running.add(index)
                if keys[index] is not None:
                    busy.add(keys[index])  # type: ignore[arg-type]
                thread = threading.Thread(target=one, args=(index,), name=f"backup-{runs[index].label}", daemon=True)
                threads.append(thread)
                thread.start()
                continue
            if not running:  # cancelled before the rest could start
                break
            condition.wait()
    for thread in threads:
        thread.join()
    return [result for index in range(len(runs)) for result in results.get(index, [])]
