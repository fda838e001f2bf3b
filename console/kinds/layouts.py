"""Every kind's layout, for the catalog. Kept apart from ``registry`` on purpose: the kinds' own modules
use the catalog, so the catalog may only depend on these plain-data modules, not on the descriptors
(which import the kinds' code). ``tests/console/test_kinds.py`` checks both lists agree."""

from __future__ import annotations

from console.kinds.certs.layout import LAYOUT as CERTS
from console.kinds.config.layout import LAYOUT as CONFIG
from console.kinds.postgres.layout import LAYOUT as POSTGRES
from console.kinds.rabbitmq.layout import LAYOUT as RABBITMQ
from console.kinds.redis.layout import LAYOUT as REDIS
from console.layout import Layout

LAYOUTS: dict[str, Layout] = {layout.kind: layout for layout in (POSTGRES, REDIS, RABBITMQ, CONFIG, CERTS)}
