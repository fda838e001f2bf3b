"""``backup-console verify --physical [--set postgres/base/<ts>]``: base backups through pg_verifybackup
(a named instance's with ``--kind postgres/NAME`` or ``--set postgres/NAME/base/<ts>``)."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from console.artifacts import write_json_atomic
from console.cli.targets import one_instance
from console.errors import ExitCode, UsageError
from console.instances import DEFAULT
from console.pitr.layout import METADATA_NAME, list_base_backups
from console.runlog import RunRecord, record_run

if TYPE_CHECKING:
    from console.cli.output import Printer
    from console.config import Settings


_BASE_SET = re.compile(r"postgres/(?:([a-z0-9][a-z0-9_-]{0,62})/)?base/\d{8}_\d{6}")


def base_instance(kind: str | None, set_id: str | None) -> str | None:
    """The instance a base backup set id names (``default`` for ``postgres/base/<ts>``), else the one
    ``--kind postgres/NAME`` names when a set id is not given; None when neither speaks of base backups."""
    found = _BASE_SET.fullmatch(set_id or "")
    if found:
        return found.group(1) or DEFAULT
    if not set_id and kind and kind.startswith("postgres/"):
        return kind.split("/", 1)[1]
    return None


def run_verify_base(set_id: str | None, json_mode: bool, settings: Settings, printer: Printer,
                    instance: str | None = None) -> int:
    from console.pitr.verify import verify_base_backup

    settings = one_instance(settings, "postgres", instance)
    base_dir = settings.root.base_backups
    bases = list_base_backups(settings.root)
    if set_id:
        bases = [base for base in bases if base.set_id == set_id]
        if not bases:
            raise UsageError(f"no base backup {set_id} under {base_dir}")
    reports = []
    for base in bases:
        started = time.time()
        report = verify_base_backup(base, settings.postgres.bin_dir)
        reports.append(report)
        status = "passed" if report.ok else "failed"
        write_json_atomic(base.directory / METADATA_NAME, {**base.metadata, "verification_status": status,
                                                           "verified_at": time.time(), "verification": report.checks})
        record_run(settings.backup_dir, RunRecord(action="verify", kind="postgres", target="base", status=
                                                  "ok" if report.ok else "failed", started=started,
                                                  finished=time.time(), message=f"{base.set_id}: {status}",
                                                  set_id=base.set_id, instance=base.instance))
    if json_mode:
        printer.data({"base_backups": [report.as_json() for report in reports], "ok": all(r.ok for r in reports)})
    else:
        if not reports:
            printer.info(f"no base backups under {base_dir}")
        for report in reports:
            printer.line(f"{report.set_id}: {'ok' if report.ok else 'FAILED'}")
            for check in report.checks:
                printer.line(f"  [{check['status'].upper():6}] {check['check']}: {check['message']}")
    return ExitCode.OK if all(report.ok for report in reports) else ExitCode.FAILED
