"""``backup-console verify --physical [--set postgres/base/<ts>]``: base backups through pg_verifybackup."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from console.artifacts import write_json_atomic
from console.errors import ExitCode, UsageError
from console.pitr.layout import METADATA_NAME, list_base_backups
from console.runlog import RunRecord, record_run

if TYPE_CHECKING:
    from console.cli.output import Printer
    from console.config import Settings


def run_verify_base(set_id: str | None, json_mode: bool, settings: Settings, printer: Printer) -> int:
    from console.pitr.verify import verify_base_backup

    bases = list_base_backups(settings.backup_dir)
    if set_id:
        bases = [base for base in bases if base.set_id == set_id]
        if not bases:
            raise UsageError(f"no base backup {set_id} under {settings.backup_dir}/postgres/base")
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
                                                  set_id=base.set_id))
    if json_mode:
        printer.data({"base_backups": [report.as_json() for report in reports], "ok": all(r.ok for r in reports)})
    else:
        if not reports:
            printer.info(f"no base backups under {settings.backup_dir}/postgres/base")
        for report in reports:
            printer.line(f"{report.set_id}: {'ok' if report.ok else 'FAILED'}")
            for check in report.checks:
                printer.line(f"  [{check['status'].upper():6}] {check['check']}: {check['message']}")
    return ExitCode.OK if all(report.ok for report in reports) else ExitCode.FAILED
