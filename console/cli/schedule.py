"""``backup-console schedule print [--systemd|--cron]``: the units or crontab lines that run
the headless commands at the manual's times."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from console import schedule
from console.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from console.cli.output import Printer
    from console.config import Settings


def register(subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "schedule", help="print systemd units or crontab lines for the nightly backups, checks and retention",
        description="Print (or write) the schedule: backups of alerts.scheduled_kinds at 02:00, then verify, "
                    "then retention plan + apply; `wal status` hourly; `monitor` every 5 minutes. Secrets come "
                    "from an environment file (KEY=value lines, mode 0600), never from the units. "
                    "Exit 0 ok, 2 usage error.",
    )
    verbs = parser.add_subparsers(dest="schedule_verb", metavar="ACTION", required=True)
    printing = verbs.add_parser("print", parents=parents, help="print the units or the crontab lines")
    style = printing.add_mutually_exclusive_group()
    style.add_argument("--systemd", action="store_true", help="systemd services, a target and timers (default)")
    style.add_argument("--cron", action="store_true", help="crontab lines")
    style.add_argument("--kubernetes", action="store_true",
                       help="Kubernetes CronJobs (YAML, one document each): credentials from a Secret, the config "
                            "from a ConfigMap, BACKUP_DIR on a PersistentVolumeClaim")
    printing.add_argument("--env-file", default="/etc/backup-console/env",
                          help="environment file with the secrets (default /etc/backup-console/env)")
    printing.add_argument("--textfile", metavar="FILE",
                          help="let `monitor` write a node_exporter textfile here (e.g. "
                               "/var/lib/prometheus/node-exporter/backup_console.prom)")
    printing.add_argument("--output-dir", metavar="DIR", help="write the unit files into DIR instead of printing")
    kube = printing.add_argument_group("with --kubernetes")
    kube.add_argument("--image", help="container image with backup-console (default backup-console:<version>)")
    kube.add_argument("--config-map", metavar="NAME", help="ConfigMap with the config file under the key config.yaml "
                                                           "(default backup-console-config)")
    kube.add_argument("--secret", metavar="NAME", help="Secret with the environment's KEY=value pairs and the "
                                                       "password files (default backup-console-env)")
    kube.add_argument("--namespace", metavar="NS", help="namespace of the CronJobs (default: kubectl's)")
    kube.add_argument("--volume-claim", metavar="NAME",
                      help="PersistentVolumeClaim holding BACKUP_DIR (default backup-console-backups)")
    kube.add_argument("--time-zone", metavar="TZ", help="the CronJobs' timeZone (default: the controller's, often UTC)")
    printing.set_defaults(handler=run_schedule_print)


_KUBERNETES_OPTIONS = ("image", "config_map", "secret", "namespace", "volume_claim", "time_zone")


def run_schedule_print(args: argparse.Namespace, settings: Settings, printer: Printer) -> int:
    given = [name for name in _KUBERNETES_OPTIONS if getattr(args, name) is not None]
    if args.kubernetes:
        return _print_kubernetes(args, settings, printer)
    if given:
        raise UsageError(f"--{given[0].replace('_', '-')} goes with --kubernetes")
    if args.cron:
        if args.output_dir:
            raise UsageError("--output-dir goes with --systemd; for cron, redirect the output")
        text = schedule.crontab(settings, args.env_file, args.textfile)
        if args.json:
            printer.data({"crontab": text})
        else:
            printer.out.write(text)
        return ExitCode.OK
    units = schedule.systemd_units(settings, args.env_file, args.textfile)
    if args.output_dir:
        directory = Path(args.output_dir)
        directory.mkdir(parents=True, exist_ok=True)
        for name, content in units.items():
            (directory / name).write_text(content, encoding="utf-8")
        printer.info(f"wrote {len(units)} unit files to {directory}")
        printer.info(f"then: sudo cp {directory}/{schedule.UNIT_PREFIX}-* /etc/systemd/system/ && "
                     f"sudo systemctl daemon-reload && sudo systemctl enable --now "
                     + " ".join(name for name in units if name.endswith(".timer")))
    if args.json:
        printer.data({"units": units})
    elif not args.output_dir:
        for name, content in units.items():
            printer.line(f"# ---- {name} ----")
            printer.out.write(content)
            printer.line()
    return ExitCode.OK


def _print_kubernetes(args: argparse.Namespace, settings: Settings, printer: Printer) -> int:
    from console import kubernetes

    if args.output_dir or args.textfile:
        raise UsageError("--kubernetes prints one YAML stream (redirect it); --output-dir and --textfile go with "
                         "--systemd")
    options = {name: getattr(args, name) for name in _KUBERNETES_OPTIONS if getattr(args, name) is not None}
    if args.json:
        printer.data({"cronjobs": kubernetes.cronjobs(settings, **options)})
    else:
        printer.out.write(kubernetes.manifests_yaml(settings, **options))
    return ExitCode.OK
