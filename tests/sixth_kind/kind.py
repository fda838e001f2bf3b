from console.kinds.base import Kind, Option
from tests.sixth_kind import backup, checks, verify
from tests.sixth_kind.layout import LAYOUT

KIND = Kind(
    name="notes",
    title="Notes",
    help="a text file, gzip-compressed (a kind for the tests)",
    layout=LAYOUT,
    preflight=("notes.source_readable",),
    checks=checks.CHECKS,
    run=backup.run,
    lock_name=backup.lock_name,
    verifier=verify,
    options=(Option("upper", "shout"),),
    target_label="file",
    target_flag="--file",
)
