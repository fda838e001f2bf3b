"""File-name templates: one declaration per kind of file, used both to write a name and to parse it.

A template such as ``backup_{name}_{ts}.dump`` with suffixes ``("", ".gz", ".zst")`` formats the
name a backup writes and matches every name the console or the manual's scripts wrote for that
role, so writing and reading can never drift apart. ``{ts}`` is the manual's ``YYYYmmdd_HHMMSS``.
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass
from datetime import datetime

TIMESTAMP_FORMAT = "%Y%m%d_%H%M%S"
_FIELD = re.compile(r"\{(\w+)\}")
_FIELD_PATTERNS = {"ts": r"\d{8}_\d{6}", "name": ".+", "file": ".+"}


def parse_stamp(stamp: str) -> datetime:
    """A ``YYYYmmdd_HHMMSS`` stamp (local time, as the manual's ``date`` writes it) as aware datetime."""
    # the local zone is part of the key: a TZ change (time.tzset) must not reuse old offsets
    return _parse_stamp(stamp, time.tzname, time.timezone, time.altzone)


@functools.lru_cache(maxsize=65536)
def _parse_stamp(stamp: str, *_zone: object) -> datetime:
    # by hand rather than strptime (~20 us a call, most of a 10,000-set catalog scan); the files
    # of one set share a stamp, hence the cache. datetime() rejects day 32 or hour 25 as strptime did.
    if len(stamp) != 15 or stamp[8] != "_" or not stamp[:8].isdigit() or not stamp[9:].isdigit() \
            or not stamp.isascii():
        raise ValueError(f"time data {stamp!r} does not match format {TIMESTAMP_FORMAT!r}")
    return datetime(int(stamp[0:4]), int(stamp[4:6]), int(stamp[6:8]), int(stamp[9:11]), int(stamp[11:13]),
                    int(stamp[13:15])).astimezone()


def new_stamp(now: datetime | None = None) -> str:
    return (now or datetime.now()).strftime(TIMESTAMP_FORMAT)


@dataclass(frozen=True)
class Template:
    """The names of one role of file (``dump``, ``rdb``, ``metadata`` ...)."""

    role: str
    """The role the file plays in its set; ``{listing}`` style roles are filled from the name."""
    pattern: str
    """Relative path with ``{ts}`` and optionally ``{name}`` or another field."""
    suffixes: tuple[str, ...] = ("",)
    """Endings a file of this role may carry (compression, encryption); the first is the default."""
    fields: tuple[tuple[str, str], ...] = ()
    """(field, regular expression) for the fields other than ts/name/file (the RabbitMQ listings)."""

    def format(self, ts: str, suffix: str | None = None, **values: str) -> str:
        chosen = self.suffixes[0] if suffix is None else suffix
        if chosen not in self.suffixes:
            raise ValueError(f"{self.role}: suffix {chosen!r} is not one of {self.suffixes}")
        return self.pattern.format(ts=ts, **values) + chosen

    @functools.cached_property
    def regex(self) -> re.Pattern[str]:
        # kept on the instance: looking it up by template hashed the dataclass, 51,000 times per 10,000-set scan
        return _compile(self)

    def match(self, relative: str) -> tuple[str, str, dict[str, str]] | None:
        """(role, stamp, fields) when ``relative`` is a name of this template."""
        found = self.regex.match(relative)
        if found is None:
            return None
        groups = found.groupdict()
        return self.role.format(**groups), groups["ts"], groups


_COMPILED: dict[Template, re.Pattern[str]] = {}


def _compile(template: Template) -> re.Pattern[str]:
    compiled = _COMPILED.get(template)
    if compiled is None:
        parts, position = [], 0
        for found in _FIELD.finditer(template.pattern):
            parts.append(re.escape(template.pattern[position:found.start()]))
            name = found.group(1)
            expression = dict(template.fields).get(name) or _FIELD_PATTERNS[name]
            parts.append(f"(?P<{name}>{expression})")
            position = found.end()
        parts.append(re.escape(template.pattern[position:]))
        ends = "|".join(re.escape(suffix) for suffix in sorted(template.suffixes, key=len, reverse=True))
        compiled = re.compile("^" + "".join(parts) + f"(?:{ends})$")
        _COMPILED[template] = compiled
    return compiled


@dataclass(frozen=True)
class Layout:
    """How one kind's sets are laid out under ``BACKUP_DIR/<kind>/``."""

    kind: str
    templates: tuple[Template, ...]
    """In matching order: the first template a name matches decides its role."""
    primary_roles: tuple[str, ...]
    """A set counts as a backup (for "last backup") only when it has a file of one of these roles."""
    subdirs: tuple[str, ...] = ()
    """Directories below the kind's directory that hold files of the set (the manual's ``archives/``)."""
    joined_by_stamp: tuple[str, ...] = ()
    """Roles whose names carry only a timestamp: such a file joins the set of the same stamp."""
    legacy_untimed: re.Pattern[str] | None = None
    """Names the manual writes without a timestamp; they join the newest set."""

    def template(self, role: str) -> Template:
        return next(item for item in self.templates if item.role == role)

    def name(self, role: str, ts: str, suffix: str | None = None, **values: str) -> str:
        """The relative path a file of ``role`` gets (``layout.name("dump", stamp, ".zst", name=db)``)."""
        return self.template(role).format(ts, suffix, **values)

    def match(self, relative: str) -> tuple[str, str, dict[str, str]] | None:
        """(role, stamp, fields) of the first template ``relative`` matches, as ``Template.match`` says it."""
        pattern, table = self._matcher
        found = pattern.match(relative)
        if found is None:
            return None
        template, groups = table[int(found.lastgroup[1:])]  # type: ignore[index]
        fields = {field: found.group(group) for group, field in groups}
        return (template.role.format(**fields) if "{" in template.role else template.role), fields["ts"], fields

    @functools.cached_property
    def _matcher(self) -> tuple[re.Pattern[str], tuple[tuple[Template, tuple[tuple[str, str], ...]], ...]]:
        """One alternation of every template, in order: one regular-expression call per name instead of
        one per template (a 10,000-set catalog matches 26,666 names). Alternative ``t<i>`` is template i,
        its fields renamed ``t<i>_<field>``; a full match of an earlier alternative wins, as in a loop."""
        alternatives, table = [], []
        for index, template in enumerate(self.templates):
            body = template.regex.pattern[1:-1]  # without ^ and $
            names = _FIELD.findall(template.pattern)
            for name in names:
                body = body.replace(f"(?P<{name}>", f"(?P<t{index}_{name}>")
            alternatives.append(f"(?P<t{index}>{body})")
            table.append((template, tuple((f"t{index}_{name}", name) for name in names)))
        return re.compile("^(?:" + "|".join(alternatives) + ")$"), tuple(table)
