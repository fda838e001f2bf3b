"""Probes against real services: up, down for real, wrong credentials, and a hanging endpoint."""

from __future__ import annotations

import time

import pytest

from console.probes import ServiceState, probe, probe_all


def test_postgres_up_reports_version_and_metrics(pg_cluster, make_settings):
    result = probe("postgres", make_settings(pg_cluster.overrides()))
    assert result.state is ServiceState.UP, result.detail
    assert result.metrics["version"].startswith("15")
    assert result.metrics["max_connections"] > 0
    assert result.metrics["database_size_bytes"] > 1_000_000
    assert result.metrics["in_recovery"] is False
    assert "archived_count" in result.metrics


def test_postgres_long_transaction_is_measured(pg_cluster, make_settings):
    conn = pg_cluster.connect(autocommit=False)
    try:
        conn.execute("SELECT 1")  # opens a transaction that stays open
        time.sleep(1.2)
        result = probe("postgres", make_settings(pg_cluster.overrides()))
        assert result.metrics["longest_transaction_seconds"] >= 1.0
    finally:
        conn.close()


def test_postgres_stopped_is_down_with_refused_detail(own_pg_cluster, make_settings):
    settings = make_settings(own_pg_cluster.overrides())
    own_pg_cluster.stop()
    result = probe("postgres", settings)
    assert result.state is ServiceState.DOWN
    assert f"connection refused at 127.0.0.1:{own_pg_cluster.port}" == result.detail


def test_postgres_wrong_password_is_down_and_secret_not_shown(own_pg_cluster, make_settings):
    with own_pg_cluster.connect() as conn:
        conn.execute("CREATE ROLE probe_user LOGIN PASSWORD 'right-secret'")
    hba = own_pg_cluster.data / "pg_hba.conf"
    hba.write_text("host all probe_user 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
    own_pg_cluster.restart()
    settings = make_settings(own_pg_cluster.overrides(), **{"postgres.user": "probe_user",
                                                            "postgres.password": "wrong-secret-value"})
    result = probe("postgres", settings)
    assert result.state is ServiceState.DOWN
    assert "authentication failed for user 'probe_user'" in result.detail
    assert "wrong-secret-value" not in str(result.as_json())


def test_postgres_hanging_endpoint_times_out_within_timeout(hanging_server, make_settings):
    settings = make_settings(**{"postgres.port": hanging_server.port, "timeout_seconds": 2.0})
    started = time.monotonic()
    result = probe("postgres", settings)
    assert result.state is ServiceState.TIMEOUT, result.detail
    assert time.monotonic() - started < 5


def test_redis_up_counts_keys_over_all_databases(redis_server, make_settings):
    client = redis_server.client()
    client.set("a", 1)
    client.select(3)
    client.set("b", 2)
    client.set("c", 3)
    result = probe("redis", make_settings(redis_server.overrides()))
    assert result.state is ServiceState.UP, result.detail
    assert result.metrics["keys"] == 3
    assert result.metrics["keys_per_db"] == {"db0": 1, "db3": 2}
    assert result.metrics["aof_enabled"] is True
    assert result.metrics["role"] == "master"


def test_redis_stopped_is_down(redis_server, make_settings):
    settings = make_settings(redis_server.overrides())
    redis_server.stop()
    result = probe("redis", settings)
    assert result.state is ServiceState.DOWN
    assert result.detail == f"connection refused at 127.0.0.1:{redis_server.port}"


def test_redis_requires_password(make_redis_server, make_settings):
    server = make_redis_server(password="s3cret-pw")
    missing = probe("redis", make_settings(**{"redis.port": server.port}))
    assert missing.state is ServiceState.DOWN
    assert "authentication required" in missing.detail
    wrong = probe("redis", make_settings(**{"redis.port": server.port, "redis.password": "nope"}))
    assert wrong.state is ServiceState.DOWN
    assert "wrong password" in wrong.detail
    right = probe("redis", make_settings(server.overrides()))
    assert right.state is ServiceState.UP


def test_redis_hanging_endpoint_times_out(hanging_server, make_settings):
    started = time.monotonic()
    result = probe("redis", make_settings(**{"redis.port": hanging_server.port}))
    assert result.state is ServiceState.TIMEOUT
    assert time.monotonic() - started < 5


def test_rabbitmq_up(rabbitmq_api, make_settings):
    result = probe("rabbitmq", make_settings())
    assert result.state is ServiceState.UP, result.detail
    assert result.metrics["nodes_running"] == result.metrics["nodes_total"] >= 1
    assert result.metrics["version"]


def test_rabbitmq_wrong_credentials_is_down(rabbitmq_api, make_settings):
    result = probe("rabbitmq", make_settings(**{"rabbitmq.password": "definitely-wrong"}))
    assert result.state is ServiceState.DOWN
    assert "wrong RabbitMQ credentials" in result.detail
    assert "definitely-wrong" not in result.detail


def test_rabbitmq_api_down_but_amqp_answers_is_degraded(rabbitmq_api, make_settings):
    from tests.servers import free_port

    # A generous timeout: under a loaded CI machine the broker's Connection.Start can take over the
    # default 2 s, and this test is about telling "API down" from "broker down", not about speed.
    result = probe("rabbitmq", make_settings(**{"rabbitmq.management_port": free_port(), "timeout_seconds": 10.0}))
    assert result.state is ServiceState.DEGRADED
    assert "AMQP answers" in result.detail


def test_rabbitmq_everything_down(make_settings):
    from tests.servers import free_port

    result = probe("rabbitmq", make_settings(**{"rabbitmq.management_port": free_port(), "rabbitmq.amqp_port": free_port()}))
    assert result.state is ServiceState.DOWN


def test_rabbitmq_hanging_api_times_out(hanging_server, make_settings):
    from tests.servers import free_port

    result = probe("rabbitmq", make_settings(**{"rabbitmq.management_port": hanging_server.port,
                                                "rabbitmq.amqp_port": free_port()}))
    assert result.state is ServiceState.TIMEOUT


def test_s3_up_and_missing_bucket(s3_bucket, make_settings):
    up = probe("s3", make_settings(s3_bucket))
    assert up.state is ServiceState.UP, up.detail
    assert up.metrics["bucket"] == s3_bucket["s3.bucket"]
    missing = probe("s3", make_settings({**s3_bucket, "s3.bucket": "no-such-bucket-here"}))
    assert missing.state is ServiceState.DOWN
    assert "does not exist" in missing.detail


def test_s3_unconfigured_without_bucket(make_settings):
    assert probe("s3", make_settings()).state is ServiceState.UNCONFIGURED


def test_s3_endpoint_down(make_settings):
    from tests.servers import free_port

    result = probe("s3", make_settings(**{"s3.bucket": "b", "s3.endpoint_url": f"http://127.0.0.1:{free_port()}"}))
    assert result.state is ServiceState.DOWN
    assert "cannot reach S3 endpoint" in result.detail


def test_storage_reports_free_space_and_usage(backup_dir, make_settings):
    (backup_dir / "postgres").mkdir(parents=True)
    (backup_dir / "postgres" / "backup_db_20250101_020000.dump").write_bytes(b"x" * 5000)
    result = probe("storage", make_settings())
    assert result.state is ServiceState.UP
    assert result.metrics["postgres_bytes"] == 5000
    assert result.metrics["free_bytes"] > 0


def test_storage_not_writable_is_down(tmp_path, make_settings):
    import subprocess

    ro = tmp_path / "ro"
    ro.mkdir()
    # A read-only bind mount refuses writes even to root.
    mounted = subprocess.run(["mount", "-o", "bind,ro", str(ro), str(ro)], capture_output=True).returncode == 0
    if not mounted:
        pytest.skip("cannot create a read-only mount here")
    try:
        result = probe("storage", make_settings(backup_dir=str(ro / "backups")))
        assert result.state is ServiceState.DOWN
        assert "not writable" in result.detail
    finally:
        subprocess.run(["umount", str(ro)], capture_output=True)


def test_one_hanging_service_does_not_delay_the_others(hanging_server, pg_cluster, make_settings):
    settings = make_settings(pg_cluster.overrides(), **{"redis.port": hanging_server.port, "timeout_seconds": 2.0})
    arrivals: dict[str, float] = {}
    started = time.monotonic()
    results = probe_all(settings, ["postgres", "redis", "storage"],
                        on_result=lambda r: arrivals.setdefault(r.name, time.monotonic() - started))
    states = {r.name: r.state for r in results}
    assert states == {"postgres": ServiceState.UP, "redis": ServiceState.TIMEOUT, "storage": ServiceState.UP}
    assert arrivals["postgres"] < arrivals["redis"]
    assert arrivals["storage"] < arrivals["redis"]


def test_storage_usage_counts_every_instance_and_settled_directories_once(backup_dir, monkeypatch):
    """Every instance's directory counts for its kind; a directory without subdirectories that has not
    changed for SETTLED_SECONDS is read once, and any change to it (a file added or removed), or a
    backup writing into it (a .partial file), is counted at once."""
    import os

    from console.probes import storage

    redis, cache, base = backup_dir / "redis", backup_dir / "redis@cache", backup_dir / "postgres" / "base" / "s1"
    for directory in (redis, cache, base):
        directory.mkdir(parents=True)
    (redis / "dump_1.rdb.gz").write_bytes(b"r" * 100)
    (cache / "dump_1.rdb.gz").write_bytes(b"c" * 10)
    (base / "base.tar.lz4").write_bytes(b"b" * 1000)
    (backup_dir / "reports").mkdir()
    (backup_dir / "reports" / "r.json").write_bytes(b"x" * 7)  # not a kind's
    old = time.time() - 2 * storage.SETTLED_SECONDS
    for directory in (redis, cache, base):
        os.utime(directory, (old, old))
    read: list[str] = []
    scandir = os.scandir
    monkeypatch.setattr(storage.os, "scandir", lambda path: (read.append(str(path)), scandir(path))[1])

    usage = storage.used_by_kind(backup_dir)
    assert usage["redis"] == 110 and usage["postgres"] == 1000 and usage["config"] == 0
    read.clear()
    assert storage.used_by_kind(backup_dir) == usage
    assert not {str(redis), str(cache), str(base)} & set(read)  # settled: not read again
    (cache / "dump_2.rdb.gz").write_bytes(b"c" * 5)  # the directory's time changes
    (base / "base.tar.lz4").unlink()
    assert storage.used_by_kind(backup_dir)["redis"] == 115 and storage.used_by_kind(backup_dir)["postgres"] == 0
    partial = redis / "dump_2.rdb.gz.4242.partial"
    partial.write_bytes(b"p" * 50)
    os.utime(redis, (old - 10, old - 10))  # even settled, a directory being written into is read every time
    assert storage.used_by_kind(backup_dir)["redis"] == 165
    with partial.open("ab") as grown:
        grown.write(b"p" * 50)
    assert storage.used_by_kind(backup_dir)["redis"] == 215
