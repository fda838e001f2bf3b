"""The RabbitMQ backup kind: definitions and listings through the management HTTP API.

One run writes ``definitions_<ts>.json.gz`` (the ``rabbitmqctl export_definitions`` document,
password hashes included, mode 0600), readable listings (``queues``, ``exchanges``,
``bindings``, ``policies``, ``users``, ``permissions``, ``message_counts`` ``_<ts>.txt.gz``),
``api_queues_<ts>.json.gz`` and the metadata ``backup_<ts>.json`` last. Message bodies are
not backed up: the API exposes counts, not messages, and the metadata says so.
"""

from __future__ import annotations

import json
import time
import zlib
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from console.artifacts import ArtifactSet
from console.errors import BackupFailed
from console.instances import set_id_of
from console.formatting import size
from console.kinds.base import BackupRequest, BackupResult
from console.kinds.common_metadata import artifact_entry, common_fields, fresh_stamp, iso_timestamp
from console.kinds.rabbitmq import listings
from console.kinds.rabbitmq.layout import LAYOUT
from console.progress import CancelToken, ProgressCallback, ProgressEvent, Throttle, check_cancel, emit

if TYPE_CHECKING:
    from console.config import Settings

MESSAGES_NOTE = ("message bodies are not backed up: the management API export holds definitions and message "
                 "counts only; queues are restored empty")


def lock_name(settings: Settings, request: BackupRequest) -> str:
    return "rabbitmq"


def _scoped(path: str, vhost: str | None) -> str:
    from console.probes.rabbitmq import vhost_path

    return f"{path}/{vhost_path(vhost)}" if vhost else path


def fetch_documents(settings: Settings, on_progress: ProgressCallback | None, cancel: CancelToken | None) -> dict[str, Any]:
    """Every management API document a backup needs, by name."""
    from console.probes.rabbitmq import ManagementAPI, vhost_path

    vhost = settings.rabbitmq.vhost or None
    api = ManagementAPI(settings.rabbitmq, max(settings.timeout_seconds, settings.rabbitmq.export_timeout_seconds))
    wanted = {
        "overview": "overview",
        "nodes": "nodes",
        "definitions": _scoped("definitions", vhost),
        "queues": _scoped("queues", vhost),
        "exchanges": _scoped("exchanges", vhost),
        "bindings": _scoped("bindings", vhost),
        "policies": _scoped("policies", vhost),
        "users": "users",
        "permissions": f"vhosts/{vhost_path(vhost)}/permissions" if vhost else "permissions",
    }
    documents: dict[str, Any] = {}
    try:
        for index, (name, path) in enumerate(wanted.items()):
            check_cancel(cancel)
            emit(on_progress, ProgressEvent("export", index, len(wanted), unit="requests", message=f"GET /api/{path}"))
            documents[name] = api.get(path)
    finally:
        api.close()
    emit(on_progress, ProgressEvent("export", len(wanted), len(wanted), unit="requests", finished=True))
    return documents


def run(settings: Settings, request: BackupRequest, on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None) -> BackupResult:
    """Export, write and record one RabbitMQ backup set.

    Raises:
        ServiceUnreachable: the API did not answer or refused the credentials ("wrong RabbitMQ credentials").
        BackupFailed: a document was not what the API should return.
        Cancelled: ``cancel`` was set; partial files are removed.
    """
    report = Throttle(on_progress)
    started = time.monotonic()
    vhost = settings.rabbitmq.vhost or None
    documents = fetch_documents(settings, report, cancel)
    definitions = documents["definitions"]
    if not isinstance(definitions, dict):
        raise BackupFailed("the RabbitMQ API returned definitions that are not a JSON object")
    queues = documents["queues"] if isinstance(documents["queues"], list) else []
    from console.crypto import passphrase_from_settings

    passphrase = passphrase_from_settings(settings)
    directory = settings.root.kind_dir("rabbitmq")
    stamp = fresh_stamp(directory)
    roles: dict[str, str] = {}
    with ArtifactSet(directory, settings.dir_mode_bits, settings.file_mode_bits) as files:
        definitions_name = _write_definitions(files, stamp, definitions, passphrase, cancel)
        roles[definitions_name] = "definitions"
        outputs = [
            ("queues", LAYOUT.name("{listing}", stamp, "txt.gz", listing="queues"), listings.queues(queues, vhost)),
            ("exchanges", LAYOUT.name("{listing}", stamp, "txt.gz", listing="exchanges"), listings.exchanges(documents["exchanges"], vhost)),
            ("bindings", LAYOUT.name("{listing}", stamp, "txt.gz", listing="bindings"), listings.bindings(documents["bindings"], vhost)),
            ("policies", LAYOUT.name("{listing}", stamp, "txt.gz", listing="policies"), listings.policies(documents["policies"], vhost)),
            ("users", LAYOUT.name("{listing}", stamp, "txt.gz", listing="users"), listings.users(documents["users"])),
            ("permissions", LAYOUT.name("{listing}", stamp, "txt.gz", listing="permissions"), listings.permissions(documents["permissions"], vhost)),
            ("message_counts", LAYOUT.name("{listing}", stamp, "txt.gz", listing="message_counts"), listings.message_counts(queues, vhost)),
            ("api_queues", LAYOUT.name("{listing}", stamp, "json.gz", listing="api_queues"), (json.dumps(queues, indent=2) + "\n").encode()),
        ]
        for index, (role, name, data) in enumerate(outputs):
            check_cancel(cancel)
            emit(report, ProgressEvent("write", index, len(outputs), unit="files", message=f"writing {name}"))
            files.write_bytes(name, data, compression="gzip")
            roles[name] = role
        emit(report, ProgressEvent("write", len(outputs), len(outputs), unit="files", finished=True))
        metadata = _metadata(settings, request, stamp, documents, queues, files, roles, time.monotonic() - started)
        metadata_name = LAYOUT.name("metadata", stamp)
        files.write_json(metadata_name, metadata)
        emit(report, ProgressEvent("metadata", finished=True, message=f"wrote {metadata_name}"))
    counts = metadata["definitions_summary"]
    total = sum(info.size_bytes for info in files.infos)
    summary = ", ".join(f"{counts[key]} {key}" for key in ("vhosts", "exchanges", "queues", "bindings", "policies", "users"))
    return BackupResult(
        "rabbitmq", "", "ok", f"definitions of {summary}; {size(total)} in {len(files.infos)} files; {MESSAGES_NOTE}",
        set_id=set_id_of("rabbitmq", "", stamp, settings.instance_of("rabbitmq")), files=tuple(files.infos), metadata_path=directory / metadata_name,
        duration_seconds=time.monotonic() - started, extra={"definitions_summary": counts},
    )


def _write_definitions(files: ArtifactSet, stamp: str, definitions: dict[str, Any], passphrase: str | None,
                       cancel: CancelToken | None) -> str:
    """definitions_<ts>.json.gz, or .json.gz.enc (our authenticated format) when a key is configured:
    the export holds every user's password hash."""
    from console import crypto

    data = (json.dumps(definitions, indent=2) + "\n").encode()
    if passphrase is None:
        return files.write_bytes(LAYOUT.name("definitions", stamp, ".gz"), data, compression="gzip").name
    name = LAYOUT.name("definitions", stamp, ".gz.enc")
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    with files.create(name) as out:
        sealed = crypto.EncryptingWriter(out, passphrase, cancel=cancel)
        sealed.write(packer.compress(data) + packer.flush())
        sealed.close()
    files.infos[-1] = replace(files.infos[-1], raw_bytes=len(data))
    return name


def summarise(definitions: dict[str, Any]) -> dict[str, int]:
    keys = ("vhosts", "users", "permissions", "topic_permissions", "exchanges", "queues", "bindings", "policies",
            "parameters", "global_parameters")
    return {key: len(definitions.get(key) or []) for key in keys}


def _metadata(settings: Settings, request: BackupRequest, stamp: str, documents: dict[str, Any],
              queues: list[dict[str, Any]], files: ArtifactSet, roles: dict[str, str], duration: float) -> dict[str, Any]:
    overview = documents["overview"] if isinstance(documents["overview"], dict) else {}
    nodes = documents["nodes"] if isinstance(documents["nodes"], list) else []
    running = [node.get("name") for node in nodes if node.get("running")]
    status = "running" if nodes and len(running) == len(nodes) else f"{len(running)}/{len(nodes)} nodes running"
    by_name = {info.name: info for info in files.infos}
    manual = {
        "backup_type": "rabbitmq_full",
        "timestamp": iso_timestamp(stamp),
        "rabbitmq_version": overview.get("rabbitmq_version"),
        "files": {roles[name]: name for name in by_name},
        "cluster_info": {"nodes": len(nodes), "status": status, "cluster_name": overview.get("cluster_name"),
                         "node_names": [node.get("name") for node in nodes], "running_nodes": running},
    }
    from console.crypto import FORMAT_NAME

    artifacts = [artifact_entry(roles[name], info, "gzip", **({"encryption": FORMAT_NAME}
                                                               if name.endswith(".enc") else {}))
                 for name, info in by_name.items()]
    common = common_fields(settings, request, "rabbitmq", stamp, duration, artifacts,
                           {"rabbitmq": overview.get("rabbitmq_version"),
                            "management": overview.get("management_version"),
                            "erlang": overview.get("erlang_version")})
    ours = {
        "vhost": settings.rabbitmq.vhost or None,
        "scope": f"vhost {settings.rabbitmq.vhost}" if settings.rabbitmq.vhost else "all vhosts",
        "management_url": _url(settings),
        "definitions_summary": summarise(documents["definitions"]),
        "messages_backed_up": False,
        "messages_note": MESSAGES_NOTE,
        "message_counts": [
            {"vhost": q.get("vhost"), "queue": q.get("name"), "messages": q.get("messages", 0),
             "messages_ready": q.get("messages_ready", 0), "messages_unacknowledged": q.get("messages_unacknowledged", 0)}
            for q in sorted(queues, key=lambda q: (q.get("vhost", ""), q.get("name", "")))
        ],
        "contains_password_hashes": True,
        "definitions_encrypted": any(name.endswith(".enc") for name in by_name),
    }
    return {**manual, **common, **ours}


def _url(settings: Settings) -> str:
    """The API address without any user:password@ an operator may have written into the URL."""
    from urllib.parse import urlsplit, urlunsplit

    from console.probes.rabbitmq import base_url

    parts = urlsplit(base_url(settings.rabbitmq))
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
