"""Pre-backup checklists: loading their YAML definitions, evaluating the automated items and the gate.

A checklist is data (``console/shipped_checklists/*.yaml``, ``config/checklists`` in the repository,
plus the operator's own files in ``checklists.dir``). An item either names an automated check of
``console.preflight`` (never a second implementation of it) or is ``manual: true`` and ticked by a
person. The gate opens when every required item passes; otherwise a backup needs a typed reason,
which becomes the run's ``force_reason``.
"""

from __future__ import annotations

import difflib
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from console.errors import ConfigError, UsageError
from console.kinds import registry
from console.kinds.base import BackupRequest
from console.preflight import CheckContext, CheckResult
from console.status import Status
from console.yamlfile import YamlNode, read_yaml

if TYPE_CHECKING:
    from console.config import Settings

SHIPPED_DIR = Path(__file__).with_name("shipped_checklists")
"""The checklists that ship with the console, as package data (``config/checklists`` links here)."""

SHIPPED_ORDER = ("postgres", "redis", "rabbitmq", "config", "certs")
"""Shipped lists in the manual's order; operators' lists follow in file-name order."""
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_FILE_KEYS = ("service", "title", "backup", "items")
_ITEM_KEYS = ("id", "title", "why", "on_fail", "check", "manual", "required")


@dataclass(frozen=True)
class ChecklistItem:
    id: str
    title: str
    why: str
    on_fail: str
    check: str | None
    """The automated check id (``postgres.healthy``); None for a manual item."""
    required: bool
    source: str
    """``file:line`` where the item is defined."""

    @property
    def manual(self) -> bool:
        return self.check is None


@dataclass(frozen=True)
class Checklist:
    service: str
    title: str
    backup: str | None
    """The backup kind the gate leads to (console.kinds.registry.KINDS), or None."""
    items: tuple[ChecklistItem, ...]
    sources: tuple[str, ...] = ()

    def item(self, item_id: str) -> ChecklistItem:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)

    @property
    def automated(self) -> list[ChecklistItem]:
        return [item for item in self.items if not item.manual]


# --- loading ---------------------------------------------------------------------------------


def load_checklists(settings: Settings | None = None, extra_dir: Path | None = None) -> dict[str, Checklist]:
    """The shipped checklists merged with the operator's (``settings.checklists.dir``), by service.

    A file for a service that already has a list adds its items to it.

    Raises:
        ConfigError: naming file:line for a bad file (unknown key or check, wrong type,
            missing title, duplicate id) or a missing operator directory.
    """
    files = sorted(SHIPPED_DIR.glob("*.yaml"),
                   key=lambda path: (SHIPPED_ORDER.index(path.stem) if path.stem in SHIPPED_ORDER else 99, path.name))
    if not files:
        raise ConfigError(f"the shipped checklists are missing from {SHIPPED_DIR}",
                          hint="reinstall backup-console (the YAML files are package data)")
    operator_dir = extra_dir
    if operator_dir is None and settings is not None and settings.checklists.dir:
        operator_dir = Path(settings.checklists.dir).expanduser()
        if not operator_dir.is_absolute() and settings.config_path is not None:
            operator_dir = settings.config_path.parent / operator_dir
    if operator_dir is not None:
        if not operator_dir.is_dir():
            where = settings.sources.get("checklists.dir", "") if settings is not None else ""
            raise ConfigError(f"checklists directory {operator_dir} does not exist" + (f" (set at {where})" if where else ""))
        files += sorted([*operator_dir.glob("*.yaml"), *operator_dir.glob("*.yml")])
    checklists: dict[str, Checklist] = {}
    for path in files:
        parsed = parse_checklist_file(path)
        existing = checklists.get(parsed.service)
        if existing is None:
            if not parsed.title:
                raise ConfigError(f"{parsed.sources[0]}: a new checklist '{parsed.service}' needs a 'title'")
            checklists[parsed.service] = parsed
            continue
        seen = {item.id: item.source for item in existing.items}
        for item in parsed.items:
            if item.id in seen:
                raise ConfigError(f"{item.source}: duplicate item id '{item.id}' in checklist '{parsed.service}' "
                                  f"(already defined at {seen[item.id]})")
        checklists[parsed.service] = replace(existing, items=existing.items + parsed.items,
                                             sources=existing.sources + parsed.sources)
    return checklists


def get_checklist(checklists: dict[str, Checklist], service: str) -> Checklist:
    if service not in checklists:
        close = difflib.get_close_matches(service, list(checklists), n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"choose from {', '.join(sorted(checklists))}"
        raise UsageError(f"no checklist for '{service}'", hint=hint)
    return checklists[service]


def parse_checklist_file(path: Path) -> Checklist:
    """Read one YAML file, keeping line numbers for every error; title may be empty (a merging file)."""
    with read_yaml(path, "checklist file") as root:
        if root is None or not root.is_mapping:
            where = f"{path}:1" if root is None else root.where
            raise ConfigError(f"{where}: a checklist file must be a mapping with 'service', 'title' and 'items'")
        top = root.fields(_FILE_KEYS, "checklist file")
        service = top.text("service", default=path.stem)
        if not _NAME.match(service):
            raise ConfigError(f"{top.where('service')}: bad service name '{service}' "
                              "(lower-case letters, digits, '-' and '_')")
        title = top.text("title", default="")
        backup = top.text("backup", default=None, nullable=True)
        if backup is not None:
            if backup not in registry.KINDS:
                raise ConfigError(f"{top.where('backup')}: unknown backup kind '{backup}' "
                                  f"(choose from {', '.join(registry.KINDS)})")
        if "items" not in top:
            raise ConfigError(f"{root.where}: missing 'items' (a list of checklist items)")
        items_node = top.node("items")
        if not items_node.is_sequence:
            raise ConfigError(f"{items_node.where}: 'items' must be a list of items")
        items: list[ChecklistItem] = []
        seen: dict[str, str] = {}
        for node in items_node.items():
            item = _parse_item(node)
            if item.id in seen:
                raise ConfigError(f"{item.source}: duplicate item id '{item.id}' (already defined at {seen[item.id]})")
            seen[item.id] = item.source
            items.append(item)
        return Checklist(service, title, backup, tuple(items), (root.where,))


def _parse_item(node: YamlNode) -> ChecklistItem:
    if not node.is_mapping:
        raise ConfigError(f"{node.where}: a checklist item must be a mapping with 'id' and 'title'")
    fields = node.fields(_ITEM_KEYS, "checklist item")
    where = node.where
    item_id = fields.text("id", default=None)
    if not item_id:
        raise ConfigError(f"{where}: checklist item without an 'id'")
    if not _NAME.match(item_id):
        raise ConfigError(f"{fields.where('id')}: bad item id '{item_id}' (lower-case letters, digits, '-' and '_')")
    title = fields.text("title", default=None)
    if not title:
        raise ConfigError(f"{where}: checklist item '{item_id}' has no 'title'")
    flags = {}
    for key, default in (("manual", False), ("required", True)):
        value = fields.value(key, default)
        if not isinstance(value, bool):
            raise ConfigError(f"{fields.where(key)}: '{key}' of item '{item_id}' must be true or false, "
                              f"got {type(value).__name__} ({value!r})")
        flags[key] = value
    check = fields.text("check", default=None, nullable=True)
    if flags["manual"] and check:
        raise ConfigError(f"{fields.where('check')}: item '{item_id}' has both 'check' and 'manual: true'; give one")
    if not flags["manual"] and not check:
        raise ConfigError(f"{where}: item '{item_id}' needs 'check: <check id>' or 'manual: true'")
    if check:
        _resolve_check(check, fields.where("check"))
    return ChecklistItem(item_id, title, fields.text("why", default=""), fields.text("on_fail", default=""),
                         check, flags["required"], where)


def _resolve_check(check_id: str, where: str) -> None:
    """Raises ConfigError when the check's provider or name is unknown (a typo in the file)."""
    providers = registry.check_providers()
    provider, _, name = check_id.partition(".")
    checks = providers.get(provider)
    if checks is None or not name:
        close = difflib.get_close_matches(provider, list(providers), n=1)
        hint = f" Did you mean '{close[0]}.{name}'?" if close and name else ""
        raise ConfigError(f"{where}: unknown check '{check_id}' (checks are named <provider>.<name>, providers: "
                          f"{', '.join(providers)}).{hint}")
    if name not in checks:
        close = difflib.get_close_matches(name, list(checks), n=1)
        hint = f" Did you mean '{provider}.{close[0]}'?" if close else f" Known: {', '.join(sorted(checks)) or 'none'}."
        raise ConfigError(f"{where}: unknown check '{check_id}'.{hint}")


# --- evaluation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemResult:
    """The evaluated state of one item."""

    item_id: str
    state: Status
    evidence: str
    started: float | None = None
    ended: float | None = None
    check: CheckResult | None = None


def evaluate_items(items: list[ChecklistItem], context: CheckContext,
                   clock: Callable[[], float] = time.time) -> list[ItemResult]:
    """Run the automated items through the registry's run_checks (concurrently); manual ones stay PENDING."""
    runnable = [item for item in items if item.check]
    started = clock()
    checks = registry.run_checks([item.check for item in runnable], context) if runnable else []  # type: ignore[misc]
    ended = clock()
    by_item = {item.id: check for item, check in zip(runnable, checks)}
    results = []
    for item in items:
        if item.manual:
            results.append(ItemResult(item.id, Status.PENDING, "needs a person"))
        else:
            check = by_item[item.id]
            evidence = check.evidence if check.status is not Status.SKIP else f"skipped: {check.evidence}"
            results.append(ItemResult(item.id, check.status, evidence, started, ended, check))
    return results


def evaluate(checklist: Checklist, settings: Settings, target: str | None = None, upload: bool = False,
             clock: Callable[[], float] = time.time) -> list[ItemResult]:
    """Evaluate every automated item of a checklist against the live services."""
    return evaluate_items(list(checklist.items), CheckContext(settings, target, upload), clock)


# --- the gate --------------------------------------------------------------------------------


@dataclass
class ItemStatus:
    """An item's current state during an interactive run (ticks and notes included)."""

    item: ChecklistItem
    state: Status = Status.PENDING
    evidence: str = ""
    ticked_by: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Gate:
    open: bool
    blocking: tuple[ItemStatus, ...]
    """Required items that do not pass (failed, not run yet, or not ticked)."""

    def summary(self) -> str:
        if self.open:
            return "gate open: every required item passes"
        names = ", ".join(status.item.id for status in self.blocking)
        return f"gate closed: {len(self.blocking)} required item(s) not passed ({names})"


class ChecklistRun:
    """The mutable state of one checklist being walked: results, ticks, notes and the gate."""

    def __init__(self, checklist: Checklist) -> None:
        self.checklist = checklist
        self.statuses: dict[str, ItemStatus] = {item.id: ItemStatus(item) for item in checklist.items}

    def __getitem__(self, item_id: str) -> ItemStatus:
        return self.statuses[item_id]

    def mark_running(self, item_id: str) -> None:
        status = self.statuses[item_id]
        status.state, status.evidence = Status.RUNNING, "running ..."

    def apply(self, result: ItemResult) -> ItemStatus:
        status = self.statuses[result.item_id]
        if not status.item.manual:
            status.state, status.evidence = result.state, result.evidence
        return status

    def toggle_tick(self, item_id: str, who: str) -> ItemStatus:
        """Tick (or untick) a manual item; automated items cannot be ticked."""
        status = self.statuses[item_id]
        if not status.item.manual:
            raise UsageError(f"'{status.item.title}' is checked automatically; it cannot be ticked")
        if status.state is Status.OK:
            status.state, status.ticked_by, status.evidence = Status.PENDING, None, ""
        else:
            status.state, status.ticked_by, status.evidence = Status.OK, who, f"ticked by {who}"
        return status

    def add_note(self, item_id: str, text: str) -> ItemStatus:
        status = self.statuses[item_id]
        status.notes.append(text.strip())
        return status

    def gate(self) -> Gate:
        blocking = tuple(status for status in self.statuses.values()
                         if status.item.required and not status.state.passes)
        return Gate(not blocking, blocking)


def override_reason(gate: Gate, reason: str | None) -> str | None:
    """The force_reason a backup started from this gate carries (None when the gate is open).

    Raises:
        UsageError: the gate is closed and no reason was typed.
    """
    if gate.open:
        return None
    typed = (reason or "").strip()
    if not typed:
        raise UsageError("the checklist gate is closed: an override needs a typed reason")
    overridden = ", ".join(f"{status.item.id} {status.state.mark.strip('[] ')}" for status in gate.blocking)
    return f"{typed} (checklist override: {overridden})"


def backup_request(checklist: Checklist, gate: Gate, reason: str | None = None, target: str | None = None,
                   upload: bool = False) -> BackupRequest:
    """The BackupRequest that "Start backup" runs; the override reason lands in metadata and run log."""
    if checklist.backup is None:
        raise UsageError(f"checklist '{checklist.service}' does not lead to a backup")
    return BackupRequest(checklist.backup, target=target, force_reason=override_reason(gate, reason), upload=upload)
