"""Readable listings of a RabbitMQ broker, in the shape of ``rabbitmqctl list_*`` output.

The manual's scripts wrote ``rabbitmqctl list_queues ...`` tables for vhost ``/`` only; these
cover every vhost the export covers (a leading vhost column), from management API documents.
Columns are tab-separated with a header row, like rabbitmqctl's.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Sequence


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value).replace("\t", " ").replace("\n", " ")


def table(title: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    lines = [title, "\t".join(headers)]
    lines += ["\t".join(_cell(value) for value in row) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def _scope(vhost: str | None) -> str:
    return f"vhost {vhost}" if vhost else "all vhosts"


def queues(items: list[dict[str, Any]], vhost: str | None) -> bytes:
    return table(f"Listing queues for {_scope(vhost)} ...",
                 ["vhost", "name", "durable", "auto_delete", "arguments", "messages", "consumers"],
                 ([q.get("vhost"), q.get("name"), q.get("durable"), q.get("auto_delete"), q.get("arguments", {}),
                   q.get("messages", 0), q.get("consumers", 0)] for q in _sorted(items)))


def exchanges(items: list[dict[str, Any]], vhost: str | None) -> bytes:
    return table(f"Listing exchanges for {_scope(vhost)} ...",
                 ["vhost", "name", "type", "durable", "auto_delete", "internal", "arguments"],
                 ([x.get("vhost"), x.get("name"), x.get("type"), x.get("durable"), x.get("auto_delete"),
                   x.get("internal"), x.get("arguments", {})] for x in _sorted(items)))


def bindings(items: list[dict[str, Any]], vhost: str | None) -> bytes:
    ordered = sorted(items, key=lambda b: (b.get("vhost", ""), b.get("source", ""), b.get("destination", ""),
                                           b.get("routing_key", "")))
    return table(f"Listing bindings for {_scope(vhost)} ...",
                 ["vhost", "source_name", "source_kind", "destination_name", "destination_kind", "routing_key", "arguments"],
                 ([b.get("vhost"), b.get("source"), "exchange", b.get("destination"), b.get("destination_type"),
                   b.get("routing_key"), b.get("arguments", {})] for b in ordered))


def policies(items: list[dict[str, Any]], vhost: str | None) -> bytes:
    return table(f"Listing policies for {_scope(vhost)} ...",
                 ["vhost", "name", "pattern", "apply-to", "definition", "priority"],
                 ([p.get("vhost"), p.get("name"), p.get("pattern"), p.get("apply-to"), p.get("definition", {}),
                   p.get("priority")] for p in _sorted(items)))


def users(items: list[dict[str, Any]]) -> bytes:
    return table("Listing users ...", ["user", "tags"],
                 ([u.get("name"), _tags(u.get("tags"))] for u in sorted(items, key=lambda u: u.get("name", ""))))


def permissions(items: list[dict[str, Any]], vhost: str | None) -> bytes:
    ordered = sorted(items, key=lambda p: (p.get("vhost", ""), p.get("user", "")))
    return table(f"Listing permissions for {_scope(vhost)} ...", ["vhost", "user", "configure", "write", "read"],
                 ([p.get("vhost"), p.get("user"), p.get("configure"), p.get("write"), p.get("read")] for p in ordered))


def message_counts(items: list[dict[str, Any]], vhost: str | None) -> bytes:
    return table(f"Listing queues for {_scope(vhost)} ... (message counts only: bodies are not backed up)",
                 ["vhost", "name", "messages", "messages_ready", "messages_unacknowledged"],
                 ([q.get("vhost"), q.get("name"), q.get("messages", 0), q.get("messages_ready", 0),
                   q.get("messages_unacknowledged", 0)] for q in _sorted(items)))


def _tags(tags: Any) -> str:
    if isinstance(tags, list):
        return "[" + ", ".join(str(tag) for tag in tags) + "]"
    return f"[{tags}]" if tags else "[]"


def _sorted(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda item: (item.get("vhost", ""), item.get("name", "")))
