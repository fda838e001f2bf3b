"""``backup-console certs status [--json]``: the certificate inventory of CERT_DIR and its expiry
state. Exit 0 when nothing is critical or expired, 1 otherwise (warnings alone exit 0)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING

from console.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from console.cli.output import Printer
    from console.config import Settings


@dataclass(frozen=True)
class CertsStatusOptions:
    cert_dir: str | None
    json: bool


def register(subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("certs", help="TLS certificate inventory and expiry",
                                   description="Inspect the TLS certificates under CERT_DIR.")
    verbs = parser.add_subparsers(dest="certs_command", metavar="ACTION", required=True)
    status = verbs.add_parser(
        "status", parents=parents, help="list certificates with their expiry state",
        description="List every certificate under CERT_DIR (PEM bundles, DER, PKCS#12) with subject, expiry, days "
                    "left, key and whether its private key is present. States: ok, warn (within certs.warn_days), "
                    "critical (within certs.critical_days), expired. Exit 0 when nothing is critical or expired, "
                    "1 otherwise, 2 on a usage/config error.",
    )
    status.add_argument("--cert-dir", metavar="DIR", help="directory to inspect (default: CERT_DIR)")
    status.set_defaults(handler=lambda args, settings, printer: run_certs_status(
        CertsStatusOptions(args.cert_dir, args.json), settings, printer))


def run_certs_status(options: CertsStatusOptions, settings: Settings, printer: Printer) -> int:
    from console.kinds.certs.inventory import build_inventory, cert_dir_of

    directory = cert_dir_of(settings, options.cert_dir)
    if not directory.is_dir():
        raise UsageError(f"certificate directory {directory} is not a directory", hint="set CERT_DIR or pass --cert-dir")
    inventory = build_inventory(directory, settings)
    failing = inventory.by_state("critical") + inventory.by_state("expired")
    if options.json:
        printer.data(inventory.as_json())
    else:
        if inventory.certificates:
            printer.table(
                ["state", "days", "expires", "name", "file", "key"],
                [[cert.state.upper(), cert.days_left, cert.valid_to[:10], cert.common_name or cert.subject,
                  cert.file + (f"#{cert.index}" if cert.index else ""), "yes" if cert.key_matched else "-"]
                 for cert in sorted(inventory.certificates, key=lambda c: c.days_left)],
            )
        else:
            printer.line(f"no certificates under {directory}")
        for problem in inventory.problems:
            printer.info(f"  {problem.file}: {problem.message}")
        orphans = [key.file for key in inventory.keys if not key.matches]
        if orphans:
            printer.info(f"  private key(s) matching no certificate: {', '.join(orphans)}")
        summary = inventory.summary()
        printer.info(f"{summary['count']} certificate(s): {summary['expired']} expired, {summary['expiring_critical']} "
                     f"critical, {summary['expiring_warn']} warn")
    return ExitCode.FAILED if failing else ExitCode.OK
