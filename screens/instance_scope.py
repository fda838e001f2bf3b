"""The dashboard's entries, one per probed instance, and its scope: the `/` filter and the `:` context.

An entry is what gets a panel or a table row: a service and one of its configured instances
(``postgres/analytics``), with the instance's tags. The scope decides which entries are shown;
group titles say the worst state of a kind's instances in words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Mapping

from console.instances import DEFAULT
from console.instances import label as instance_label
from console.instances import split_lock_name
from screens.widgets.service_panel import TITLES

if TYPE_CHECKING:
    from console.config import Instance, Settings
    from console.probes import ProbeResult

WORST_FIRST = ("down", "timeout", "degraded", "pending", "unconfigured", "up")
"""States from the one that needs attention most; "pending" is an instance not probed yet."""
_GROUP_WORDS = {"down": "DOWN", "timeout": "TIMEOUT", "degraded": "DEGRADED", "pending": "checking",
                "unconfigured": "OFF"}


@dataclass(frozen=True)
class Entry:
    """One instance of one service: a panel or a table row."""

    service: str
    instance: str = DEFAULT
    tags: Mapping[str, str] = field(default_factory=dict)
    configured: Instance | None = field(default=None, compare=False, repr=False)
    """The configured instance (None for services without instances: s3, storage)."""

    @property
    def label(self) -> str:
        """``postgres`` for the default instance, ``postgres/analytics`` for another (the probes' label)."""
        return instance_label(self.service, self.instance)

    @property
    def title(self) -> str:
        return TITLES.get(self.service, self.service)

    @property
    def tag_text(self) -> str:
        """``env=prod team=payments``."""
        return " ".join(f"{key}={value}" for key, value in self.tags.items())

    @property
    def widget_id(self) -> str:
        """``panel-postgres`` for the default instance, ``panel-postgres-analytics`` for another."""
        return f"panel-{self.service}" if self.instance == DEFAULT else f"panel-{self.service}-{self.instance}"

    def matches_text(self, text: str) -> bool:
        """Case-insensitive: the text is part of the label, the kind's title or a tag (``env=prod``)."""
        needle = text.strip().lower()
        if not needle:
            return True
        haystack = [self.label, self.title, *(f"{key}={value}" for key, value in self.tags.items())]
        return any(needle in item.lower() for item in haystack)

    def in_context(self, selector: str) -> bool:
        """``postgres/analytics`` (one instance), ``postgres`` (a kind), ``env=prod`` or ``env`` (a tag)."""
        if not selector:
            return True
        if "/" in selector:
            return selector == self.label
        if selector == self.service:
            return True
        return self.configured is not None and self.configured.matches(selector)


def entries_of(settings: Settings, services: Iterable[str]) -> list[Entry]:
    """Every probed instance of ``services`` in their order, then the configured order of instances."""
    from console.config import SECTION_OF_KIND

    found = []
    for service in services:
        if service in SECTION_OF_KIND:
            found.extend(Entry(service, item.name, dict(item.tags), item) for item in settings.instances_of(service))
        else:
            found.append(Entry(service))
    return found


def contexts(entries: list[Entry]) -> list[tuple[str, str]]:
    """(selector, description) the context switch offers: every tag value, every kind with several
    instances, every instance of such a kind."""
    tags: dict[str, list[str]] = {}
    for entry in entries:
        for key, value in entry.tags.items():
            tags.setdefault(f"{key}={value}", []).append(entry.label)
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry.service] = counts.get(entry.service, 0) + 1
    offered = [(selector, f"tag {selector}: {len(labels)} instance(s)") for selector, labels in sorted(tags.items())]
    offered += [(service, f"every {TITLES.get(service, service)} instance ({count})")
                for service, count in counts.items() if count > 1]
    offered += [(entry.label, f"instance {entry.label}" + (f" [{entry.tag_text}]" if entry.tags else ""))
                for entry in entries if counts[entry.service] > 1]
    return offered


@dataclass(frozen=True)
class Scope:
    """What the dashboard shows: entries in the context whose text matches the filter."""

    text: str = ""
    context: str = ""

    @property
    def active(self) -> bool:
        return bool(self.text.strip() or self.context)

    def shows(self, entry: Entry) -> bool:
        return entry.in_context(self.context) and entry.matches_text(self.text)

    def words(self, shown: int, total: int, editing: bool = False) -> str:
        """``context env=prod · filter "ana" · 2 of 24 shown · esc clears`` (``enter keeps · esc clears``
        while the filter is typed)."""
        parts = []
        if self.context:
            parts.append(f"context {self.context}")
        if self.text.strip() and not editing:  # while typed, the field beside these words shows it
            parts.append(f'filter "{self.text.strip()}"')
        parts.append(f"{shown} of {total} shown" if shown else f"nothing matches (of {total})")
        parts.append("enter keeps · esc clears" if editing else "esc clears")
        return " · ".join(parts)


def state_of(result: ProbeResult | None) -> str:
    return result.state.value if result is not None else "pending"


def worst_state(results: Iterable[ProbeResult | None]) -> str:
    states = {state_of(result) for result in results}
    return next((state for state in WORST_FIRST if state in states), "pending")


def state_counts(results: list[ProbeResult | None]) -> str:
    """``2/3 up · 1 DOWN``: how many are up, then each other state, worst first."""
    counts: dict[str, int] = {}
    for result in results:
        counts[state_of(result)] = counts.get(state_of(result), 0) + 1
    parts = [f"{counts.get('up', 0)}/{len(results)} up"]
    parts += [f"{counts[state]} {_GROUP_WORDS[state]}" for state in WORST_FIRST if state != "up" and counts.get(state)]
    return " · ".join(parts)


def group_title(service: str, results: list[ProbeResult | None]) -> str:
    """``PostgreSQL  2/3 up · 1 DOWN``."""
    return f"{TITLES.get(service, service)}  {state_counts(results)}"


def lock_is_of(lock_name: str, kind: str, instance: str) -> bool:
    """Whether a held lock is a backup of this kind's instance: ``redis``, ``postgres-shop@analytics``."""
    kind_lock, owner = split_lock_name(lock_name)
    return owner == instance and (kind_lock == kind or kind_lock.startswith(kind + "-"))
