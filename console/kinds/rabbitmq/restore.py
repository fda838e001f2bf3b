"""Restoring RabbitMQ definitions: a preview of what an import would create or change, then the import.

An import (POST /api/definitions) is additive: it creates what is missing and overwrites
objects of the same name (a user's password hash and tags, a policy's definition), and never
deletes anything. So the preview compares the backup with the broker as it is now, object by
object, before anything is sent. ``vhost`` limits a full backup to one vhost (its vhost entry,
the users holding permissions on it, and its objects), or names the vhost a single-vhost
backup is imported into. Messages are not part of a backup: queues come back empty.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from console import jsondoc
from console.artifacts import sha256_file
from console.catalog import read_metadata
from console.compressed import DamagedStream, decompress_chunks
from console.errors import UsageError, VerifyFailed
from console.probes.rabbitmq import ManagementAPI, vhost_path
from console.progress import ProgressCallback, ProgressEvent, emit
from console.runner import restore_run

if TYPE_CHECKING:
    from console.catalog import BackupSet
    from console.config import Settings

CATEGORIES = ("vhosts", "users", "permissions", "topic_permissions", "exchanges", "queues", "bindings", "policies",
              "parameters", "global_parameters")
PER_VHOST = ("permissions", "topic_permissions", "exchanges", "queues", "bindings", "policies", "parameters")
IMPORT_TIMEOUT_SECONDS = 120.0


def _tags(value: Any) -> list[str]:
    if isinstance(value, list):
        return sorted(str(tag) for tag in value)
    return sorted(tag for tag in str(value or "").split(",") if tag)


_IDENTITY: dict[str, Callable[[dict[str, Any]], tuple]] = {
    "vhosts": lambda item: (item.get("name"),),
    "users": lambda item: (item.get("name"),),
    "permissions": lambda item: (item.get("vhost"), item.get("user")),
    "topic_permissions": lambda item: (item.get("vhost"), item.get("user"), item.get("exchange")),
    "exchanges": lambda item: (item.get("vhost"), item.get("name")),
    "queues": lambda item: (item.get("vhost"), item.get("name")),
    "bindings": lambda item: (item.get("vhost"), item.get("source"), item.get("destination"),
                              item.get("destination_type"), item.get("routing_key"),
                              json.dumps(item.get("arguments") or {}, sort_keys=True)),
    "policies": lambda item: (item.get("vhost"), item.get("name")),
    "parameters": lambda item: (item.get("vhost"), item.get("component"), item.get("name")),
    "global_parameters": lambda item: (item.get("name"),),
}

_COMPARED: dict[str, Callable[[dict[str, Any]], Any]] = {
    "vhosts": lambda item: None,
    "users": lambda item: (item.get("password_hash"), item.get("hashing_algorithm"), _tags(item.get("tags"))),
    "permissions": lambda item: (item.get("configure"), item.get("write"), item.get("read")),
    "topic_permissions": lambda item: (item.get("write"), item.get("read")),
    "exchanges": lambda item: (item.get("type"), item.get("durable"), item.get("auto_delete"), item.get("internal"),
                               json.dumps(item.get("arguments") or {}, sort_keys=True)),
    "queues": lambda item: (item.get("durable"), item.get("auto_delete"),
                            json.dumps(item.get("arguments") or {}, sort_keys=True)),
    "bindings": lambda item: None,
    "policies": lambda item: (item.get("pattern"), item.get("apply-to"), item.get("priority"),
                              json.dumps(item.get("definition") or {}, sort_keys=True)),
    "parameters": lambda item: json.dumps(item.get("value"), sort_keys=True),
    "global_parameters": lambda item: json.dumps(item.get("value"), sort_keys=True),
}


@dataclass(frozen=True)
class CategoryPlan:
    create: list[str]
    change: list[str]
    unchanged: int

    def as_json(self) -> dict[str, Any]:
        return {"create": self.create, "change": self.change, "unchanged": self.unchanged}


@dataclass(frozen=True)
class ImportPlan:
    set_id: str
    scope: str
    plan: dict[str, CategoryPlan]
    definitions: dict[str, Any]
    endpoint: str
    """The API path the import is POSTed to."""
    create_vhost: str | None
    """A vhost to create first (importing a single-vhost export needs it to exist)."""

    @property
    def has_changes(self) -> bool:
        return any(item.create or item.change for item in self.plan.values())

    def lines(self) -> list[str]:
        out = [f"import of {self.set_id} ({self.scope}), additive: nothing is deleted, queues come back empty"]
        for category, item in self.plan.items():
            if not (item.create or item.change or item.unchanged):
                continue
            out.append(f"  {category}: {len(item.create)} to create, {len(item.change)} to change, "
                       f"{item.unchanged} unchanged")
            out += [f"    + {name}" for name in item.create]
            out += [f"    ~ {name} (overwritten by the backup's version)" for name in item.change]
        return out

    def as_json(self) -> dict[str, Any]:
        return {"set_id": self.set_id, "scope": self.scope, "endpoint": f"/api/{self.endpoint}",
                "plan": {category: item.as_json() for category, item in self.plan.items()}}


def _label(category: str, item: dict[str, Any]) -> str:
    if category in ("vhosts", "users", "global_parameters"):
        return str(item.get("name"))
    if category in ("permissions", "topic_permissions"):
        return f"{item.get('user')} on {item.get('vhost')}"
    if category == "bindings":
        return (f"{item.get('vhost')}: {item.get('source') or '(default)'} -> {item.get('destination_type')} "
                f"{item.get('destination')} [{item.get('routing_key')}]")
    if category == "parameters":
        return f"{item.get('vhost')}: {item.get('component')}/{item.get('name')}"
    return f"{item.get('vhost')}/{item.get('name')}"


def load_definitions(backup_set: BackupSet, settings: Settings | None = None) -> tuple[dict[str, Any], str | None]:
    """The set's definitions document and, for a single-vhost export, that vhost.

    Raises:
        ConfigError: the file is encrypted and no key is configured.
        CryptoError: wrong key or a damaged encrypted file.
        VerifyFailed: the file is damaged or does not match its recorded sha256.
    """
    item = backup_set.file("definitions")
    if item is None:
        raise UsageError(f"backup set {backup_set.set_id} has no definitions file")
    name = item.path.name
    try:
        raw = item.path.read_bytes()
        if name.endswith(".enc"):
            raw = _decrypt(raw, name, settings)
            name = name[: -len(".enc")]
        if name.endswith(".gz"):
            raw = b"".join(decompress_chunks([raw], "gzip", name))
        document = jsondoc.loads(raw)
    except OSError as exc:
        raise VerifyFailed(f"cannot read {item.path}: {exc.strerror}") from None
    except (ValueError, DamagedStream) as exc:
        raise VerifyFailed(f"{item.path.name} is damaged: {exc}") from None
    problem = definitions_problem(document)
    if problem:
        raise VerifyFailed(f"{item.path.name} is not a RabbitMQ definitions export: {problem}",
                           hint="nothing was sent to the broker; restore another set")
    metadata = read_metadata(backup_set).document or {}
    recorded = {a.get("name"): a.get("sha256") for a in metadata.get("artifacts", []) or [] if isinstance(a, dict)}
    if recorded.get(item.path.name):
        if sha256_file(item.path) != recorded[item.path.name]:
            raise VerifyFailed(f"{item.path.name} does not match the sha256 recorded in its metadata")
    return document, metadata.get("vhost") or None


DEFINITION_LISTS = ("users", "vhosts", "permissions", "topic_permissions", "parameters", "global_parameters",
                    "policies", "queues", "exchanges", "bindings")
"""The lists of a ``GET /api/definitions`` document; each entry is an object."""


def definitions_problem(document: Any) -> str | None:
    """Why ``document`` is not a definitions export, or None when it is one."""
    if not isinstance(document, dict):
        return f"a JSON {type(document).__name__}, not an object"
    if not any(key in document for key in (*DEFINITION_LISTS, "rabbit_version", "rabbitmq_version")):
        shown = ", ".join(sorted(map(str, document))[:5]) or "none"
        return f"none of its keys ({shown}) is a definitions key (vhosts, users, queues, ...)"
    for key in DEFINITION_LISTS:
        value = document.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
            return f"'{key}' must be a list of objects"
    return None


def _decrypt(raw: bytes, name: str, settings: Settings | None) -> bytes:
    from console.crypto import Decryption, expected_content, require_passphrase

    if settings is None:
        raise UsageError(f"{name} is encrypted: settings with the encryption key are needed")
    decryption = Decryption(io.BytesIO(raw), require_passphrase(settings), where=name, expect=expected_content(name))
    return b"".join(decryption)


def select(document: dict[str, Any], exported_vhost: str | None, vhost: str | None) -> tuple[dict[str, Any], str, str, str | None]:
    """(definitions to import, scope text, API endpoint, vhost to create first)."""
    if exported_vhost is not None:
        target = vhost or exported_vhost
        scoped = {key: value for key, value in document.items() if key in PER_VHOST}
        return scoped, f"vhost {target} (from a single-vhost export of {exported_vhost})", \
            f"definitions/{vhost_path(target)}", target
    if vhost is None:
        return document, "all vhosts", "definitions", None
    names = [item.get("name") for item in document.get("vhosts") or []]
    if vhost not in names:
        raise UsageError(f"vhost '{vhost}' is not in this backup (it has: {', '.join(map(str, names)) or 'none'})")
    selected: dict[str, Any] = {"vhosts": [item for item in document["vhosts"] if item.get("name") == vhost]}
    for key in PER_VHOST:
        selected[key] = [item for item in document.get(key) or [] if item.get("vhost") == vhost]
    holders = {item.get("user") for item in selected["permissions"] + selected["topic_permissions"]}
    selected["users"] = [user for user in document.get("users") or [] if user.get("name") in holders]
    for key in ("rabbit_version", "rabbitmq_version"):
        if key in document:
            selected[key] = document[key]
    return selected, f"vhost {vhost}", "definitions", None


def _with_vhost(items: list[dict[str, Any]], vhost: str | None) -> list[dict[str, Any]]:
    return [item if "vhost" in item or vhost is None else {**item, "vhost": vhost} for item in items]


def plan_import(settings: Settings, backup_set: BackupSet, vhost: str | None = None) -> ImportPlan:
    """Compare the backup (or its part for ``vhost``) with the broker now."""
    document, exported_vhost = load_definitions(backup_set, settings)
    definitions, scope, endpoint, create_vhost = select(document, exported_vhost, vhost)
    api = ManagementAPI(settings.rabbitmq, max(settings.timeout_seconds, 30.0))
    try:
        current = api.get("definitions")
    finally:
        api.close()
    plan: dict[str, CategoryPlan] = {}
    for category in CATEGORIES:
        wanted = _with_vhost(definitions.get(category) or [], create_vhost)
        if category == "vhosts" and create_vhost:
            wanted = [{"name": create_vhost}]
        existing = {_IDENTITY[category](item): item for item in current.get(category) or []}
        create, change, unchanged = [], [], 0
        for item in wanted:
            found = existing.get(_IDENTITY[category](item))
            if found is None:
                create.append(_label(category, item))
            elif _COMPARED[category](found) != _COMPARED[category](item):
                change.append(_label(category, item))
            else:
                unchanged += 1
        plan[category] = CategoryPlan(create, change, unchanged)
    return ImportPlan(backup_set.set_id, scope, plan, definitions, endpoint, create_vhost)


def apply_import(settings: Settings, plan: ImportPlan, on_progress: ProgressCallback | None = None) -> None:
    """POST the planned definitions (creating a single-vhost export's vhost first)."""
    with restore_run(settings, "rabbitmq", plan.set_id, plan.scope) as run:
        api = ManagementAPI(settings.rabbitmq, max(settings.timeout_seconds, IMPORT_TIMEOUT_SECONDS))
        try:
            if plan.create_vhost:
                emit(on_progress, ProgressEvent("import", message=f"creating vhost {plan.create_vhost}"))
                api.put(f"vhosts/{vhost_path(plan.create_vhost)}", {})
            emit(on_progress, ProgressEvent("import", message=f"POST /api/{plan.endpoint} ({plan.scope})"))
            api.post(plan.endpoint, plan.definitions)
        finally:
            api.close()
        run.done(f"imported definitions ({plan.scope})")
    emit(on_progress, ProgressEvent("import", finished=True, message="definitions imported"))
