"""RabbitMQ pre-flight checks: the manual's RabbitMQ checklist, automated through the management API.

A check never raises for a broker problem: an unreachable API or wrong credentials is a FAIL
whose evidence is the API client's one-line message ("wrong RabbitMQ credentials ...").
"""

from __future__ import annotations

from typing import Any, Callable, Mapping


from console.errors import ServiceUnreachable
from console.preflight import Check, CheckContext, free_space
from console.status import Status

Outcome = tuple[Status, str] | tuple[Status, str, Mapping[str, Any]]
MIN_FREE_BYTES = 64 * 1024 * 1024
"""A definitions export is small; this floor keeps a nearly full disk from passing."""


def _with_api(body: Callable[[CheckContext, Any], Outcome], *, reports_access: bool = False) -> Callable[[CheckContext], Outcome]:
    """Run ``body`` with an API client.

    Only the checks that are about access (``reports_access``) fail when the API cannot be used;
    the others are skipped with the reason, so one wrong password reads as one failure.
    """

    def run(context: CheckContext) -> Outcome:
        from console.probes.rabbitmq import ManagementAPI

        api = ManagementAPI(context.settings.rabbitmq, context.settings.timeout_seconds)
        try:
            return body(context, api)
        except ServiceUnreachable as exc:
            if reports_access:
                return Status.FAIL, exc.message
            return Status.SKIP, f"not checked: {exc.message}"
        finally:
            api.close()

    return run


def _management_api(context: CheckContext, api: Any) -> Outcome:
    who = api.get("whoami")
    tags = who.get("tags") or []
    tags = tags if isinstance(tags, list) else [tag for tag in str(tags).split(",") if tag]
    details = {"user": who.get("name"), "tags": tags, "url": api.shown_url}
    if "administrator" not in tags:
        return (Status.FAIL, f"authenticated as {who.get('name')} at {api.shown_url}, but without the administrator "
                "tag the definitions (users, permissions) cannot be exported", details)
    return Status.OK, f"authenticated as {who.get('name')} (administrator) at {api.shown_url}", details


def _healthy(context: CheckContext, api: Any) -> Outcome:
    overview = api.get("overview")
    version = overview.get("rabbitmq_version")
    try:
        vhosts = api.get("health/checks/virtual-hosts")
    except ServiceUnreachable as exc:
        if "HTTP 503" in exc.message:
            return Status.FAIL, f"RabbitMQ {version}: some virtual hosts are down ({exc.message})"
        if "HTTP 404" not in exc.message:  # brokers before 3.8 lack the health endpoints
            raise
        vhosts = {"status": "unknown"}
    details = {"version": version, "cluster": overview.get("cluster_name"), "vhosts": vhosts.get("status")}
    if vhosts.get("status") not in ("ok", "unknown"):
        return Status.FAIL, f"RabbitMQ {version}: virtual hosts check says {vhosts}", details
    return Status.OK, f"RabbitMQ {version} on {overview.get('node')} answers; virtual hosts {vhosts.get('status')}", details


def _healthy_or_denied(context: CheckContext, api: Any) -> Outcome:
    """Wrong credentials are the management_api check's failure; here the broker did answer."""
    try:
        return _healthy(context, api)
    except ServiceUnreachable as exc:
        if "HTTP 401" in exc.message:
            return Status.SKIP, f"not checked: {exc.message}"
        raise


def _nodes(context: CheckContext, api: Any) -> Outcome:
    nodes = api.get("nodes?columns=name,running")
    down = [node["name"] for node in nodes if not node.get("running")]
    details = {"nodes": [node["name"] for node in nodes], "down": down}
    if down:
        return Status.FAIL, f"{len(nodes) - len(down)}/{len(nodes)} nodes running; down: {', '.join(down)}", details
    return Status.OK, f"{len(nodes)}/{len(nodes)} nodes running ({', '.join(details['nodes'])})", details


def _alarms(context: CheckContext, api: Any) -> Outcome:
    nodes = api.get("nodes?columns=name,mem_alarm,disk_free_alarm,mem_used,mem_limit,disk_free,disk_free_limit")
    alarms = []
    for node in nodes:
        if node.get("mem_alarm"):
            alarms.append(f"{node['name']}: memory alarm (used {node.get('mem_used')} of limit {node.get('mem_limit')})")
        if node.get("disk_free_alarm"):
            alarms.append(f"{node['name']}: disk alarm (free {node.get('disk_free')} below {node.get('disk_free_limit')})")
    if alarms:
        return Status.FAIL, "; ".join(alarms), {"alarms": alarms}
    return Status.OK, f"no memory or disk alarm on {len(nodes)} node(s)", {"alarms": []}


def _pending_operations(context: CheckContext, api: Any) -> Outcome:
    from console.probes.rabbitmq import vhost_path

    vhost = context.settings.rabbitmq.vhost
    path = f"queues/{vhost_path(vhost)}" if vhost else "queues"
    queues = api.get(path + "?columns=vhost,name,messages_unacknowledged,messages_ready")
    pending = [(q.get("vhost"), q.get("name"), int(q.get("messages_unacknowledged") or 0)) for q in queues]
    pending = [item for item in pending if item[2]]
    details = {"queues": len(queues), "unacknowledged": {f"{v}/{n}": count for v, n, count in pending}}
    if not pending:
        return Status.OK, f"no unacknowledged messages in {len(queues)} queue(s)", details
    shown = ", ".join(f"{v}/{n}: {count}" for v, n, count in pending[:5])
    more = f" and {len(pending) - 5} more" if len(pending) > 5 else ""
    return Status.WARN, f"unacknowledged messages in {len(pending)} queue(s): {shown}{more}", details


def _disk_space(context: CheckContext) -> Outcome:
    """Free space for the export: twice an estimate from the object counts, 64 MB at least."""
    from console.probes.rabbitmq import ManagementAPI

    api = ManagementAPI(context.settings.rabbitmq, context.settings.timeout_seconds)
    try:
        totals = api.get("overview").get("object_totals") or {}
    except ServiceUnreachable:
        totals = {}  # the floor still applies; reachability is the other checks' business
    finally:
        api.close()
    objects = sum(int(totals.get(key, 0)) for key in ("queues", "exchanges", "consumers", "connections"))
    needed = max(MIN_FREE_BYTES, 2 * objects * 2048)
    return free_space(context.settings.root.kind_dir("rabbitmq"), needed,
                      "2 x estimated export size (64 MB floor)")


CHECKS: dict[str, Check] = {
    "healthy": Check("rabbitmq.healthy", "RabbitMQ is healthy and accessible", _with_api(_healthy_or_denied,
                                                                                          reports_access=True)),
    "nodes": Check("rabbitmq.nodes", "All nodes reachable in cluster", _with_api(_nodes)),
    "alarms": Check("rabbitmq.alarms", "No memory or disk alarm", _with_api(_alarms)),
    "pending_operations": Check("rabbitmq.pending_operations", "No pending queue operations",
                                _with_api(_pending_operations)),
    "disk_space": Check("rabbitmq.disk_space", "Disk space available", _disk_space),
    "management_api": Check("rabbitmq.management_api", "Management API accessible",
                            _with_api(_management_api, reports_access=True)),
}
