"""``backup-console monitor``: freshness, verification, space, tools, WAL archiving and
certificates in one pass; alerts to the webhook; optionally a node_exporter textfile."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from console.errors import ExitCode

if TYPE_CHECKING:
    from console.cli.output import Printer
    from console.config import Settings

_MARK = {"ok": "ok", "warning": "WARN", "critical": "CRIT"}


def register(subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "monitor", parents=parents, help="check backups are fresh and verified; alert; Prometheus textfile",
        description="Check every scheduled kind's newest backup against its schedule (stale after "
                    "alerts.stale_hours), its verification result and the last run; BACKUP_DIR space; "
                    "pg_dump/redis-cli/openssl; WAL archiving; certificate expiry. Sends alerts to "
                    "alerts.webhook_url when set. Exit 0 when nothing is critical, 1 when something is, "
                    "2 on a usage/configuration error.",
    )
    parser.add_argument("--prometheus", metavar="FILE", help="also write a node_exporter textfile (atomically)")
    parser.add_argument("--no-alerts", action="store_true", help="do not send webhook alerts in this run")
    parser.set_defaults(handler=run_monitor_cli)


def run_monitor_cli(args: argparse.Namespace, settings: Settings, printer: Printer) -> int:
    from console.alerts import process
    from console.monitor import collect

    report = collect(settings)
    if args.prometheus:
        from console.prometheus import write_textfile

        write_textfile(Path(args.prometheus), report)
    deliveries = [] if args.no_alerts else process(settings, report.findings)
    if args.json:
        printer.data({**report.as_json(), "alerts_sent": [d.as_json() for d in deliveries]})
    else:
        printer.table(["state", "check", "subject", "message"],
                      [[_MARK[f.severity], f.category, f.subject, f.message] for f in report.findings])
        for finding in report.findings:
            if finding.severity != "ok" and finding.evidence:
                printer.info(f"  {finding.subject}: {finding.evidence}")
        for delivery in deliveries:
            outcome = "sent" if delivery.ok else f"NOT sent ({delivery.error})"
            printer.info(f"alert {delivery.event} {delivery.alert_id}: {outcome}")
    return ExitCode.FAILED if report.alerting else ExitCode.OK
