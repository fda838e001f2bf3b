"""The environment a child process (pg_dump, pg_restore, redis-cli, redis-server, ...) is given.

A child gets only what it needs to run (PATH, locale, time zone, a temp dir) plus the one
credential meant for it; never the console's whole environment, which may hold
BACKUP_ENCRYPTION_KEY, AWS_SECRET_ACCESS_KEY and the other services' passwords.
"""

from __future__ import annotations

import os
from typing import Mapping

_PASSED = ("PATH", "LANG", "LANGUAGE", "TZ", "TMPDIR", "HOME")
"""Inherited as they are: how to find binaries, speak, tell time and where to put temp files."""


def child_env(extra: Mapping[str, str] | None = None, prefixes: tuple[str, ...] = (),
              source: Mapping[str, str] | None = None) -> dict[str, str]:
    """A minimal environment: ``_PASSED``, ``LC_*``, variables starting with ``prefixes``, then ``extra``.

    Args:
        extra: variables set for this child (its credential, its application name).
        prefixes: families the child reads for its own settings, e.g. ``("PG",)`` for libpq
            (PGSSLMODE, PGSSLROOTCERT, an operator's own PGPASSFILE).
        source: the environment to pick from (os.environ by default).
    """
    source = os.environ if source is None else source
    env = {key: value for key, value in source.items()
           if key in _PASSED or key.startswith("LC_") or (prefixes and key.startswith(prefixes))}
    env.update(extra or {})
    return env
