"""``backup-console status --fleet [--json]``: every backup host's targets, as their fleet records in
the bucket say (``console.fleet_view``). Exit 0 all fine, 1 something stale or failed (or the
bucket unreadable), 2 no bucket configured."""

from __future__ import annotations

from typing import TYPE_CHECKING

from console.errors import ExitCode
from console.formatting import short_ago

if TYPE_CHECKING:
    from console.cli.output import Printer
    from console.config import Settings


def run_fleet_status(json_mode: bool, settings: Settings, printer: Printer) -> int:
    from console.fleet_view import read_fleet

    view = read_fleet(settings)
    if json_mode:
        printer.data(view.as_json())
        return ExitCode.OK if view.ok else ExitCode.FAILED
    printer.line(view.summary())
    if view.hosts:
        rows = []
        for host in view.hosts:
            for target in host.targets:
                rows.append([host.name + (" (STALE)" if host.stale else ""), target.label, target.result,
                             short_ago(target.age_seconds), target.verification, target.state])
        printer.table(["host", "target", "result", "age", "verification", "state"], rows)
    for host in view.hosts:
        if host.stale:
            printer.line(f"STALE host {host.name}: {host.reason}")
        for target in host.targets:
            for reason in target.reasons:
                printer.line(f"{host.name} {target.label}: {reason}")
    for item in view.unreadable:
        printer.info(f"skipped {item}")
    return ExitCode.OK if view.ok else ExitCode.FAILED
