"""Backup sets for the verify, S3 and report tests: ours (through the real backup modules) and the
manual's legacy layout, made with the same real tools its scripts call (pg_dump, gzip, a real
redis-server's dump.rdb, the RabbitMQ management API), metadata included as they leave it.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from console.catalog import BackupSet, scan
from tests.servers import RABBIT_API, RABBIT_AUTH, PgCluster, RedisServer, require_binary


def stamp_ago(minutes: float = 5.0, seconds: float = 0.0) -> str:
    return (datetime.now() - timedelta(minutes=minutes) + timedelta(seconds=seconds)).strftime("%Y%m%d_%H%M%S")


def only_set(backup_dir: Path, kind: str) -> BackupSet:
    sets = [item for item in scan(backup_dir, [kind]).sets if item.is_backup]
    assert len(sets) == 1, [item.set_id for item in sets]
    return sets[0]


def fill_database(cluster: PgCluster, dbname: str, rows: int = 500) -> None:
    with cluster.connect(dbname) as conn:
        conn.execute("CREATE TABLE accounts (id serial PRIMARY KEY, name text NOT NULL, balance numeric)")
        conn.execute("INSERT INTO accounts (name, balance) SELECT 'user ' || g, g * 1.5 FROM generate_series(1, %s) g",
                     (rows,))
        conn.execute("CREATE TABLE events (id bigserial PRIMARY KEY, payload jsonb)")
        conn.execute("INSERT INTO events (payload) SELECT jsonb_build_object('n', g, 'text', repeat('x', 40)) "
                     "FROM generate_series(1, %s) g", (rows * 2,))


# --- ours, through the real backup modules ------------------------------------------------------


def our_backup(settings: Any, kind: str, target: str | None = None, **options: Any) -> BackupSet:
    from console.kinds.base import BackupRequest
    from console.runner import execute

    result = execute(settings, BackupRequest(kind, target, options=options))
    assert result.ok, result.message
    found = scan(settings.backup_dir, [kind]).find(result.set_id)
    assert found is not None, result.set_id
    return found


# --- the manual's legacy layout -------------------------------------------------------------------


def legacy_postgres(backup_dir: Path, cluster: PgCluster, dbname: str) -> BackupSet:
    """Steps 3-5 as they really run: .dump (never gzipped, defect 3), .sql.gz, invalid-JSON metadata (defect 4)."""
    directory = backup_dir / "postgres"
    directory.mkdir(parents=True, exist_ok=True)
    pg_dump = require_binary("pg_dump")
    gzip_bin = require_binary("gzip")
    conn = ["--host", cluster.host, "--port", str(cluster.port), "--username", cluster.user, "--dbname", dbname]
    dump_stamp, sql_stamp, meta_stamp = stamp_ago(10), stamp_ago(10, 3), stamp_ago(10, 5)
    subprocess.run([pg_dump, *conn, "--format=custom", f"--file={directory}/backup_{dbname}_{dump_stamp}.dump",
                    "--compress=9", "--blobs", "--no-password"], check=True, capture_output=True)
    sql_path = directory / f"backup_{dbname}_{sql_stamp}.sql"
    subprocess.run([pg_dump, *conn, "--format=plain", f"--file={sql_path}", "--no-password"], check=True,
                   capture_output=True)
    subprocess.run([gzip_bin, "-9", str(sql_path)], check=True, capture_output=True)
    # DUMP_SIZE stats a .dump.gz that never exists, BACKUP_DURATION is unset, bc prints ".50".
    (directory / f"backup_{dbname}_{meta_stamp}.json").write_text(
        "{\n"
        '  "backup_type": "full_daily",\n'
        f'  "timestamp": "{datetime.now().astimezone().isoformat(timespec="seconds")}",\n'
        f'  "database": "{dbname}",\n'
        '  "host": "127.0.0.1",\n'
        '  "backup_method": "pg_dump",\n'
        '  "files": {\n'
        f'    "dump_custom": {{"name": "backup_{dbname}_{meta_stamp}.dump.gz", "size_bytes": , "size_mb": 0}},\n'
        f'    "dump_sql": {{"name": "backup_{dbname}_{meta_stamp}.sql.gz", "size_bytes": 1234, "size_mb": 0}}\n'
        "  },\n"
        '  "database_stats": {"table_count": 2, "row_count": 0, "schema_hash": "d41d8cd98f00b204e9800998ecf8427e"},\n'
        '  "backup_time_seconds": ,\n'
        '  "compression_ratio": .50,\n'
        '  "s3_uploaded": false,\n'
        '  "s3_bucket": "null",\n'
        '  "verification_status": "pending",\n'
        '  "retention_days": 30\n'
        "}\n")
    return only_set(backup_dir, "postgres")


def legacy_redis(backup_dir: Path, server: RedisServer) -> BackupSet:
    """backup-redis.sh: a real dump.rdb gzipped with gzip -9, no AOF (defect 9), NOAUTH metadata (defect 8)."""
    directory = backup_dir / "redis"
    directory.mkdir(parents=True, exist_ok=True)
    client = server.client()
    client.save()
    stamp = stamp_ago(8)
    rdb = directory / f"snapshot_{stamp}.rdb"
    shutil.copyfile(server.dir / "dump.rdb", rdb)
    (directory / f"snapshot_{stamp}.json").write_text(
        "{\n"
        '  "backup_type": "redis_full",\n'
        f'  "timestamp": "{datetime.now().astimezone().isoformat(timespec="seconds")}",\n'
        '  "redis_version": "NOAUTH Authentication required.",\n'
        '  "memory_used_mb": 1.45M,\n'
        '  "keys_count": NOAUTH Authentication required.,\n'
        f'  "files": {{"rdb": "snapshot_{stamp}.rdb", "aof": "aof_{stamp}.aof"}},\n'
        '  "replication_info": {"role": "NOAUTH Authentication required.", "connected_slaves": }\n'
        "}\n")
    subprocess.run([require_binary("gzip"), "-9", str(rdb)], check=True, capture_output=True)
    return only_set(backup_dir, "redis")


def legacy_rabbitmq(backup_dir: Path, vhost: str) -> BackupSet:
    """A run of backup-rabbitmq.sh that got through: definitions and metadata gzipped by Step 8 (defect 14)."""
    directory = backup_dir / "rabbitmq"
    directory.mkdir(parents=True, exist_ok=True)
    stamp = stamp_ago(6)
    definitions = requests.get(f"{RABBIT_API}/api/definitions", auth=RABBIT_AUTH, timeout=10)
    definitions.raise_for_status()
    (directory / f"definitions_{stamp}.json").write_bytes(definitions.content)
    queues = requests.get(f"{RABBIT_API}/api/queues", auth=RABBIT_AUTH, timeout=10).text
    (directory / f"queues_{stamp}.txt").write_text(queues)
    (directory / f"backup_{stamp}.json").write_text(json.dumps({
        "backup_type": "rabbitmq_full", "timestamp": datetime.now().astimezone().isoformat(timespec="seconds"),
        "rabbitmq_version": "RabbitMQ version: 3.10.8",
        "files": {"definitions": f"definitions_{stamp}.json", "queues": f"queues_{stamp}.txt"},
        "cluster_info": {"nodes": 9, "status": "Status of node rabbit@localhost ..."}}, indent=2))
    for name in (f"definitions_{stamp}.json", f"queues_{stamp}.txt", f"backup_{stamp}.json"):
        subprocess.run([require_binary("gzip"), "-9", str(directory / name)], check=True, capture_output=True)
    return only_set(backup_dir, "rabbitmq")


def flip_byte(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    position = len(data) // 2 if offset is None else offset
    data[position] ^= 0x01
    path.write_bytes(bytes(data))


def truncate(path: Path, keep_fraction: float = 0.6) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep_fraction)])


def gunzip_bytes(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes())


def legacy_config_and_certs(backup_dir: Path, source: Path, cert_dir: Path, key: str) -> tuple[BackupSet, BackupSet]:
    """backup-config.sh and backup-tls-certs.sh: tar + ``openssl enc -aes-256-cbc`` (key through the
    environment here, same key derivation as ``-k``), a manifest, and the inventory as a JSON array."""
    import os

    openssl, tar = require_binary("openssl"), require_binary("tar")
    env = {**os.environ, "BC_TEST_KEY": key}
    config_dir = backup_dir / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    stamp = stamp_ago(4)
    subprocess.run([tar, "--create", "--gzip", f"--file={config_dir}/config_{stamp}.tar.gz", "--exclude=.env", "-C",
                    str(source), "."], check=True, capture_output=True)
    subprocess.run([openssl, "enc", "-aes-256-cbc", "-in", str(source / ".env"), "-out", str(config_dir / ".env.enc"),
                    "-pass", "env:BC_TEST_KEY"], check=True, capture_output=True, env=env)
    (config_dir / f"manifest_{stamp}.json").write_text(json.dumps({
        "backup_timestamp": datetime.now().astimezone().isoformat(timespec="seconds"), "git_commit": "0" * 40,
        "git_branch": "main", "files_included": ["docker-compose.yml", "nginx.conf"], "encrypted_files": [".env"]}))
    certs_dir = backup_dir / "certs"
    certs_dir.mkdir(parents=True, exist_ok=True)
    tarball = subprocess.run([tar, "--create", "--gzip", "--file", "-", "-C", str(cert_dir), "."], check=True,
                             capture_output=True).stdout
    subprocess.run([openssl, "enc", "-aes-256-cbc", "-out", str(certs_dir / f"certificates_{stamp}.tar.gz.enc"),
                    "-pass", "env:BC_TEST_KEY"], input=tarball, check=True, capture_output=True, env=env)
    (certs_dir / f"cert_inventory_{stamp}.json").write_text(
        '[\n  {\n    "file": "./site.crt",\n    "subject": "CN = verify.test",\n    "issuer": "CN = verify.test",\n'
        '    "valid_from": "Nov 25 00:00:00 2026 GMT",\n    "valid_to": "Feb 23 00:00:00 2027 GMT"\n  }\n]\n')
    return only_set(backup_dir, "config"), only_set(backup_dir, "certs")
