"""Redis pre-flight checks: the manual's Redis checklist, automated with evidence.

Each check opens its own short-lived connection (checks run concurrently) and never raises for
a service problem: an unreachable Redis is a FAIL whose evidence says why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping


from console.formatting import size
from console.preflight import Check, CheckContext, destination_writable, free_space
from console.status import Status

Outcome = tuple[Status, str] | tuple[Status, str, Mapping[str, Any]]


def _with_info(section: str | None, body: Callable[[CheckContext, dict[str, Any]], Outcome]) -> Callable[[CheckContext], Outcome]:
    """Run ``body`` with INFO (or one INFO section); connection problems become a FAIL."""

    def run(context: CheckContext) -> Outcome:
        import redis

        from console.probes.redis import client, describe_error

        rs = context.settings.redis
        conn = client(rs, context.settings.timeout_seconds)
        try:
            info = conn.info(section) if section else conn.info()
        except redis.exceptions.RedisError as exc:
            return Status.FAIL, describe_error(exc, rs)[1]
        finally:
            conn.close()
        return body(context, info)

    return run


def healthy(context: CheckContext) -> Outcome:
    """PING answers (with AUTH when a password is configured)."""
    import redis

    from console.probes.redis import client, describe_error
    from console.probes.result import Stopwatch

    rs = context.settings.redis
    conn = client(rs, context.settings.timeout_seconds)
    watch = Stopwatch()
    try:
        conn.ping()
        latency = watch.ms
        version = conn.info("server").get("redis_version", "?")
    except redis.exceptions.RedisError as exc:
        return Status.FAIL, describe_error(exc, rs)[1]
    finally:
        conn.close()
    auth = " (authenticated)" if rs.password else ""
    return (Status.OK, f"PONG from {rs.host}:{rs.port} in {latency:.1f} ms{auth}, Redis {version}",
            {"latency_ms": round(latency, 2), "version": version})


def _memory(context: CheckContext, info: dict[str, Any]) -> Outcome:
    used = int(info.get("used_memory", 0))
    maxmemory = int(info.get("maxmemory", 0))
    threshold = context.settings.redis.memory_threshold_pct
    details = {"used_memory_bytes": used, "maxmemory_bytes": maxmemory or None, "threshold_pct": threshold}
    if not maxmemory:
        return Status.OK, f"used {size(used)}; no maxmemory set (nothing to compare with)", details
    pct = 100.0 * used / maxmemory
    evidence = f"used {size(used)} = {pct:.0f} % of maxmemory {size(maxmemory)}"
    if pct < threshold:
        return Status.OK, f"{evidence} < {threshold} %", details
    return Status.WARN, f"{evidence} >= {threshold} % (BGSAVE's fork may push it over)", details


def _disk_space(context: CheckContext, info: dict[str, Any]) -> Outcome:
    used = int(info.get("used_memory", 0))
    return free_space(context.settings.root.kind_dir("redis"), 2 * used, "2 x used memory")


def _destination(context: CheckContext) -> Outcome:
    return destination_writable(context.settings.root.kind_dir("redis"))


def _replication(context: CheckContext, info: dict[str, Any]) -> Outcome:
    from console.probes.redis import parse_replicas

    max_lag = context.settings.redis.max_replication_lag_seconds
    if info.get("role") == "slave":
        link = info.get("master_link_status")
        last_io = info.get("master_last_io_seconds_ago")
        where = f"{info.get('master_host')}:{info.get('master_port')}"
        details = {"role": "replica", "master_link_status": link, "master_last_io_seconds_ago": last_io}
        if link != "up":
            return Status.FAIL, f"replica of {where}: link is {link}", details
        if last_io is not None and int(last_io) > max_lag:
            return Status.FAIL, f"replica of {where}: last contact {last_io} s ago > {max_lag} s", details
        return Status.OK, f"replica of {where}: link up, last contact {last_io} s ago <= {max_lag} s", details
    replicas = parse_replicas(info)
    details = {"role": "master", "replicas": replicas}
    if not replicas:
        return Status.OK, "master with no replicas (no replication lag possible)", details
    problems = []
    for replica in replicas:
        name = f"{replica['ip']}:{replica['port']}"
        if replica["state"] != "online":
            problems.append(f"{name} is {replica['state']}")
        elif replica["lag"] is not None and int(replica["lag"]) > max_lag:
            problems.append(f"{name} lags {replica['lag']} s > {max_lag} s")
    if problems:
        return Status.FAIL, "; ".join(problems), details
    worst = max(int(replica["lag"] or 0) for replica in replicas)
    return Status.OK, f"{len(replicas)} replica(s) online, max lag {worst} s <= {max_lag} s", details


def _data_dir(context: CheckContext) -> Outcome:
    """A configured redis.data_dir that is not there makes the backup fall back without failing: say so first."""
    configured = context.settings.redis.data_dir
    if not configured:
        return Status.SKIP, "redis.data_dir is not set: the data dir comes from CONFIG GET dir"
    path = Path(configured).expanduser()
    details = {"data_dir": str(path)}
    if path.is_dir():
        return Status.OK, f"redis.data_dir {path} exists here", details
    missing = "is not a directory" if path.exists() else "does not exist"
    return (Status.WARN, f"redis.data_dir {path} {missing} here: the RDB will be fetched over the network "
            "and the AOF will not be archived", details)


def _aof(context: CheckContext, info: dict[str, Any]) -> Outcome:
    if not int(info.get("aof_enabled", 0)):
        return Status.SKIP, "AOF is off (appendonly no): nothing to check"
    write = info.get("aof_last_write_status")
    rewrite = info.get("aof_last_bgrewrite_status")
    details = {"aof_last_write_status": write, "aof_last_bgrewrite_status": rewrite,
               "aof_rewrite_in_progress": int(info.get("aof_rewrite_in_progress", 0))}
    evidence = f"last write {write}, last rewrite {rewrite}"
    if write == "ok" and rewrite == "ok":
        return Status.OK, evidence, details
    return Status.FAIL, evidence + " (see the Redis log)", details


CHECKS: dict[str, Check] = {
    "healthy": Check("redis.healthy", "Redis is healthy and accessible", healthy),
    "memory": Check("redis.memory", "Memory usage < max memory threshold", _with_info("memory", _memory)),
    "disk_space": Check("redis.disk_space", "Disk space available for snapshot", _with_info("memory", _disk_space)),
    "destination_writable": Check("redis.destination_writable", "Backup destination is writable", _destination),
    "replication": Check("redis.replication", "No replication lag", _with_info("replication", _replication)),
    "data_dir": Check("redis.data_dir", "Configured data dir exists here (for the AOF)", _data_dir),
    "aof": Check("redis.aof", "AOF file is healthy (if enabled)", _with_info("persistence", _aof)),
}
