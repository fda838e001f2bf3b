"""Redis probe and client helper (redis-py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from console.probes.result import ProbeResult, ServiceState, Stopwatch

if TYPE_CHECKING:
    import redis  # imported where a client is made: loading the probes must not cost redis-py's 0.1 s

    from console.config import RedisSettings, Settings


def client(rs: RedisSettings, timeout: float) -> redis.Redis:
    """A client that fails fast: redis-py retries three times by default, which would triple a hang."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis(
        host=rs.host,
        port=rs.port,
        username=rs.username or None,
        password=rs.password or None,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        decode_responses=True,
        client_name="backup-console",
    )


def describe_error(exc: Exception, rs: RedisSettings) -> tuple[ServiceState, str]:
    import redis

    where = f"{rs.host}:{rs.port}"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, redis.exceptions.TimeoutError):
        return ServiceState.TIMEOUT, f"no answer from {where} (timed out)"
    if isinstance(exc, redis.exceptions.AuthenticationError) or "NOAUTH" in text or "WRONGPASS" in text:
        if "NOAUTH" in text or "required" in text.lower() or not rs.password:
            return ServiceState.DOWN, f"authentication required at {where}: set REDIS_PASSWORD"
        return ServiceState.DOWN, f"authentication failed at {where} (wrong password)"
    if isinstance(exc, redis.exceptions.ConnectionError):
        if "refused" in text.lower():
            return ServiceState.DOWN, f"connection refused at {where}"
        return ServiceState.DOWN, f"cannot connect to {where}: {text}"
    return ServiceState.DOWN, f"{text} ({where})"


def parse_replicas(info: dict[str, Any]) -> list[dict[str, Any]]:
    """``slave0: {ip, port, state, offset, lag}`` entries of INFO replication, as a list."""
    replicas = []
    for key, value in info.items():
        if key.startswith("slave") and key[5:].isdigit() and isinstance(value, dict):
            replicas.append({"ip": value.get("ip"), "port": value.get("port"), "state": value.get("state"),
                             "lag": value.get("lag")})
    return replicas


def total_keys(info: dict[str, Any]) -> tuple[int, dict[str, int]]:
    per_db = {key: int(value.get("keys", 0)) for key, value in info.items()
              if key.startswith("db") and key[2:].isdigit() and isinstance(value, dict)}
    return sum(per_db.values()), per_db


def probe(settings: Settings) -> ProbeResult:
    import redis  # before the stopwatch: the first import is not the server's latency

    rs = settings.redis
    watch = Stopwatch()
    conn = client(rs, settings.timeout_seconds)
    try:
        conn.ping()
        latency = watch.ms
        info = conn.info()
    except redis.exceptions.RedisError as exc:
        state, detail = describe_error(exc, rs)
        return ProbeResult("redis", "redis", state, detail, watch.ms)
    finally:
        conn.close()
    keys, per_db = total_keys(info)
    used = int(info.get("used_memory", 0))
    maxmemory = int(info.get("maxmemory", 0))
    replicas = parse_replicas(info)
    metrics = {
        "version": info.get("redis_version"),
        "used_memory_bytes": used,
        "maxmemory_bytes": maxmemory or None,
        "memory_pct": 100.0 * used / maxmemory if maxmemory else None,
        "role": info.get("role"),
        "connected_replicas": int(info.get("connected_slaves", 0)),
        "replicas": replicas,
        "master_link_status": info.get("master_link_status"),
        "keys": keys,
        "keys_per_db": per_db,
        "rdb_last_bgsave_status": info.get("rdb_last_bgsave_status"),
        "rdb_bgsave_in_progress": bool(info.get("rdb_bgsave_in_progress")),
        "rdb_changes_since_last_save": int(info.get("rdb_changes_since_last_save", 0)),
        "rdb_last_save_at": info.get("rdb_last_save_time"),
        "aof_enabled": bool(info.get("aof_enabled")),
        "aof_last_write_status": info.get("aof_last_write_status"),
        "aof_last_bgrewrite_status": info.get("aof_last_bgrewrite_status"),
    }
    problems = []
    if info.get("rdb_last_bgsave_status") not in (None, "ok"):
        problems.append("last BGSAVE failed")
    if metrics["aof_enabled"] and info.get("aof_last_write_status") not in (None, "ok"):
        problems.append("last AOF write failed")
    if info.get("role") == "slave" and info.get("master_link_status") != "up":
        problems.append("replica link to master is down")
    if any(replica["state"] != "online" for replica in replicas):
        problems.append("a replica is not online")
    if maxmemory and used >= settings.redis.memory_threshold_pct / 100 * maxmemory:
        problems.append(f"memory {metrics['memory_pct']:.0f} % of maxmemory")
    role = "replica" if info.get("role") == "slave" else "master"
    detail = f"Redis {info.get('redis_version')} {role}, {keys} keys"
    if problems:
        return ProbeResult("redis", "redis", ServiceState.DEGRADED, "; ".join(problems), latency, metrics)
    return ProbeResult("redis", "redis", ServiceState.UP, detail, latency, metrics)
