"""Where certificate sets live: ``certificates_<ts>.tar.gz.enc`` and ``cert_inventory_<ts>.json``."""

from console.layout import Layout, Template

LAYOUT = Layout(
    kind="certs",
    templates=(
        Template("archive", "certificates_{ts}.tar.gz.enc"),
        Template("metadata", "cert_inventory_{ts}.json"),
    ),
    primary_roles=("archive",),
)
