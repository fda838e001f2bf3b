"""Instances: several servers (or trees) of one kind, each with a name.

The manual knows one of each; its sets stay where it puts them (``BACKUP_DIR/postgres/``) and
belong to the instance called ``default``. Every other instance has a directory of its own
beside them, ``BACKUP_DIR/<kind>@<instance>/``, laid out exactly like the kind's, and the same
place under the S3 prefix; its set ids carry the name: ``postgres/analytics/shop/<stamp>``.

Pure names and parsing: no settings, no I/O, so the catalog, the layout and the faces share it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT = "default"
"""The instance the manual's environment variables and a single-instance file describe."""

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
"""Lower-case letters, digits, ``-`` and ``_``: safe in a directory, a lock, an S3 key, a unit name and
a Prometheus label, and never mistaken for a stamp or a database."""

SEPARATOR = "@"


def valid_name(name: str) -> bool:
    return bool(NAME_PATTERN.fullmatch(name))


def dir_name(kind: str, instance: str = DEFAULT) -> str:
    """The instance's directory under BACKUP_DIR (and under the S3 prefix): ``postgres`` or ``postgres@analytics``."""
    return kind if instance == DEFAULT else f"{kind}{SEPARATOR}{instance}"


def parse_dir_name(name: str) -> tuple[str, str] | None:
    """``postgres@analytics`` -> (``postgres``, ``analytics``); ``postgres`` -> (``postgres``, ``default``);
    None for a name that is neither (``postgres@``, ``postgres@Bad Name``)."""
    kind, separator, instance = name.partition(SEPARATOR)
    if not separator:
        return kind, DEFAULT
    if not valid_name(instance) or instance == DEFAULT:
        return None
    return kind, instance


def label(kind: str, instance: str = DEFAULT) -> str:
    """How people see an instance: ``postgres`` for the default one, ``postgres/analytics`` otherwise."""
    return kind if instance == DEFAULT else f"{kind}/{instance}"


def set_id_of(kind: str, name: str, stamp: str, instance: str = DEFAULT) -> str:
    """``postgres/shop/<stamp>``, ``redis/<stamp>``, ``postgres/analytics/shop/<stamp>``, ``redis/cache/<stamp>``."""
    parts = [kind, "" if instance == DEFAULT else instance, name, stamp]
    return "/".join(part for part in parts if part)


def lock_name(kind_lock: str, instance: str = DEFAULT) -> str:
    """A kind's lock name for one instance: ``postgres-shop`` (default), ``postgres-shop@analytics``."""
    return kind_lock if instance == DEFAULT else f"{kind_lock}{SEPARATOR}{instance}"


def split_lock_name(name: str) -> tuple[str, str]:
    """``postgres-shop@analytics`` -> (``postgres-shop``, ``analytics``); ``redis`` -> (``redis``, ``default``)."""
    kind_lock, separator, instance = name.partition(SEPARATOR)
    return kind_lock, instance if separator else DEFAULT


def target_label(kind: str, instance: str = DEFAULT, name: str = "") -> str:
    """How people see a target: ``postgres/shop``, ``redis``, ``postgres/analytics/shop``, ``redis/cache``."""
    return "/".join(part for part in (label(kind, instance), name) if part)


@dataclass(frozen=True)
class Target:
    """What a command names: ``kind[/instance[/database]]``. ``instance`` None means "not named"."""

    kind: str
    instance: str | None = None
    database: str | None = None

    def __str__(self) -> str:
        return "/".join(part for part in (self.kind, self.instance, self.database) if part)


def split_target(text: str) -> Target:
    """Split ``kind[/instance[/database]]`` without judging the names (the caller knows the instances).

    Raises:
        ValueError: with the reason, for an empty part or more than three parts.
    """
    parts = text.strip().split("/")
    if any(not part for part in parts):
        raise ValueError(f"'{text}' has an empty part: write kind, kind/instance or kind/instance/database")
    if len(parts) > 3:
        raise ValueError(f"'{text}' has {len(parts)} parts: write kind, kind/instance or kind/instance/database")
    return Target(parts[0], parts[1] if len(parts) > 1 else None, parts[2] if len(parts) > 2 else None)
