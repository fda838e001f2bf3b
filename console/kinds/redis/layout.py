"""Where Redis sets live: ``snapshot_<ts>.rdb.gz``, ``aof_<ts>.aof.gz`` (or the AOF directory as a tarball)."""

from console.layout import Layout, Template

LAYOUT = Layout(
    kind="redis",
    templates=(
        Template("rdb", "snapshot_{ts}.rdb", (".gz", "")),
        Template("aof", "aof_{ts}.", ("aof.gz", "aof", "tar.gz")),
        Template("metadata", "snapshot_{ts}.json"),
    ),
    primary_roles=("rdb",),
)
