"""Where configuration sets live: ``config_<ts>.tar.gz``, ``manifest_<ts>.json``, ``<file>_<ts>.enc``."""

import re

from console.layout import Layout, Template

LAYOUT = Layout(
    kind="config",
    templates=(
        Template("tarball", "config_{ts}.tar.gz"),
        Template("metadata", "manifest_{ts}.json"),
        Template("enc:{file}", "{file}_{ts}.enc"),
    ),
    primary_roles=("tarball",),
    # the manual's config script writes .env.enc, .env.production.enc ... with no timestamp
    legacy_untimed=re.compile(r"^\.env(?:\.[A-Za-z0-9_-]+)?\.enc$"),
)
