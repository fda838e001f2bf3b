"""The verbs of ``backup-console``, in the order ``--help`` lists them. Add a verb by adding its module here."""

from __future__ import annotations

from console.cli import (backup, certs, checklist, configcmd, cryptocmd, drill, monitor, restore, retention, schedule,
                         status, troubleshoot, upload, verify, wal)

VERBS = (status, configcmd, backup, restore, wal, cryptocmd, certs, retention, monitor, schedule, troubleshoot,
         checklist, drill, upload, verify)
