"""The configuration kind: the application tree as a tarball, its .env files encrypted apart."""

from __future__ import annotations

from console.kinds.base import Kind, Option
from console.kinds.config import backup, checks, verify
from console.kinds.config.layout import LAYOUT

KIND = Kind(
    name="config",
    title="Configuration",
    help="archive the application's configuration; .env files encrypted separately",
    layout=LAYOUT,
    preflight=("config.source_readable", "config.encryption_key", "config.destination_writable", "common.s3_reachable"),
    checks=checks.CHECKS,
    run=backup.run,
    lock_name=backup.lock_name,
    verifier=verify,
    options=(
        Option("source", "application tree to back up (default: config_backup.source_dir)", type="path",
               metavar="DIR"),
        Option("git_commit", "commit pending changes in the source's git repository first (the manual did this "
                             "always; without it git is only read)"),
    ),
    s3_type="config",
)
