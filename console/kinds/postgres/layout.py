"""Where PostgreSQL sets live: the manual's names (``backup_<db>_<ts>.dump`` ...), our compressed ones too."""

from console.layout import Layout, Template

LAYOUT = Layout(
    kind="postgres",
    templates=(
        Template("dump", "backup_{name}_{ts}.dump", ("", ".gz", ".zst")),
        Template("sql", "backup_{name}_{ts}.sql", (".gz", "", ".zst")),
        Template("metadata", "backup_{name}_{ts}.json"),
        Template("archive", "archives/backup_{ts}.tar", ("", ".gz")),
    ),
    primary_roles=("dump", "sql"),
    subdirs=("archives",),
    joined_by_stamp=("archive",),
)
