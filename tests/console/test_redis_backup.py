"""Redis backups against private redis-servers: the round trip, the network path, failures, restore."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import tarfile
import threading

import pytest

from console.artifacts import sha256_file
from console.catalog import scan
from console.errors import ConfirmationRequired, ConsoleError, ReadOnlyRefused, UsageError, VerifyFailed
from console.kinds.base import BackupRequest
from console.kinds.redis.restore import restore
from console.kinds.registry import run_checks
from console.preflight import CheckContext
from console.progress import CancelToken
from console.runner import execute
from console.status import Status
from tests.redis_fixtures import FAST_SYNC, ChildWatcher, dataset, populate
from tests.servers import RedisServer


def _only_set(backup_dir):
    sets = scan(backup_dir, ["redis"]).sets
    assert len(sets) == 1, sets
    return sets[0]


@pytest.fixture
def stopped_servers():
    servers: list[RedisServer] = []
    yield servers
    for server in servers:
        server.destroy()


def test_backup_then_restore_into_fresh_server_gives_same_data(make_redis_server, make_settings, backup_dir, stopped_servers):
    source = make_redis_server(extra=FAST_SYNC)
    expected_keys = populate(source)
    before = dataset(source)
    settings = make_settings(source.overrides())

    result = execute(settings, BackupRequest("redis"))

    assert result.ok, result.message
    assert result.set_id.startswith("redis/")
    metadata = json.loads(result.metadata_path.read_text())
    stamp = result.set_id.split("/")[1]
    assert metadata["backup_type"] == "redis_full"
    assert metadata["keys_count"] == expected_keys
    assert metadata["keys_per_db"] == {"db0": 309, "db1": 2, "db5": 2}
    assert isinstance(metadata["memory_used_mb"], (int, float)) and metadata["memory_used_mb"] > 0
    assert metadata["files"] == {"rdb": f"snapshot_{stamp}.rdb.gz", "aof": f"aof_{stamp}.tar.gz"}
    assert metadata["replication_info"] == {"role": "master", "connected_slaves": 0}
    assert metadata["redis_version"].startswith("7.")
    assert metadata["producer"].startswith("backup-console ")
    assert metadata["verification_status"] == "pending" and metadata["s3_uploaded"] is False
    assert metadata["rdb_validation"]["ok"] is True and metadata["rdb_validation"]["checksum"] == "ok"
    assert metadata["rdb_source"].startswith("local file")
    for artifact in metadata["artifacts"]:
        assert sha256_file(backup_dir / "redis" / artifact["name"]) == artifact["sha256"]
    assert {a["role"] for a in metadata["artifacts"]} == {"rdb", "aof"}
    assert not list((backup_dir / "redis").glob("*.partial"))
    # Redis 7's multi-part AOF: the whole directory, manifest included
    with tarfile.open(backup_dir / "redis" / f"aof_{stamp}.tar.gz") as tar:
        names = tar.getnames()
    assert "appendonlydir/appendonly.aof.manifest" in names
    assert any(name.endswith(".base.rdb") for name in names) and any(name.endswith(".incr.aof") for name in names)

    target = RedisServer(appendonly=False)
    stopped_servers.append(target)
    restored = restore(settings, _only_set(backup_dir), target.dir)
    assert restored.placed == [target.dir / "dump.rdb"]
    assert any("AOF takes precedence" in warning for warning in restored.warnings)
    target.start()
    assert sum(target.client(db=db).dbsize() for db in (0, 1, 5)) == expected_keys
    assert dataset(target) == before


def test_restore_with_aof_loads_the_multipart_aof(make_redis_server, make_settings, backup_dir, stopped_servers):
    source = make_redis_server(extra=FAST_SYNC)
    populate(source)
    source.client(db=0).set("written-after-rewrite", "in the incr file")
    before = dataset(source)
    settings = make_settings(source.overrides())
    assert execute(settings, BackupRequest("redis")).ok

    target = RedisServer(appendonly=True)
    stopped_servers.append(target)
    result = restore(settings, _only_set(backup_dir), target.dir, with_aof=True)
    assert (target.dir / "appendonlydir" / "appendonly.aof.manifest").is_file()
    assert len(result.placed) == 2
    target.start()
    assert dataset(target) == before


def test_network_fetch_with_password_never_puts_it_on_argv(make_redis_server, make_settings, backup_dir, stopped_servers):
    password = "s3cret-Pa55-for-argv-check"
    # CONFIG disabled: the data dir is unknown, so the RDB must come over the network
    source = make_redis_server(password=password, extra={"repl-diskless-sync-delay": "1", "rename-command": 'CONFIG ""'})
    populate(source)
    before = dataset(source)
    settings = make_settings(source.overrides())

    with ChildWatcher() as watcher:
        result = execute(settings, BackupRequest("redis"))

    assert result.ok, result.message
    argvs = watcher.argvs()
    assert any("--rdb" in argv and argv[0].endswith("redis-cli") for argv in argvs), argvs
    assert not any(password in " ".join(argv) for argv in argvs)
    envs = watcher.environment_of("redis-cli", "--rdb")
    assert envs and all(f"REDISCLI_AUTH={password}".encode() in env.split(b"\0") for env in envs)
    metadata_text = result.metadata_path.read_text()
    assert password not in metadata_text
    metadata = json.loads(metadata_text)
    assert metadata["rdb_source"].startswith("network")
    assert metadata["aof"]["status"] == "unavailable" and metadata["files"]["aof"] is None

    target = RedisServer(appendonly=False)
    stopped_servers.append(target)
    restore(settings, _only_set(backup_dir), target.dir)
    target.start()
    assert dataset(target) == before


def test_bgsave_failure_fails_the_run_and_leaves_nothing(make_redis_server, make_settings, backup_dir):
    source = make_redis_server(appendonly=False, extra={"enable-protected-configs": "yes"})
    source.client().set("k", "v")
    doomed = source.dir / "doomed"
    doomed.mkdir()
    source.client().config_set("dir", str(doomed))
    doomed.rmdir()  # the server's working dir is gone: the BGSAVE child cannot create its file, even as root

    result = execute(make_settings(source.overrides()), BackupRequest("redis"))

    assert result.status == "failed"
    assert "BGSAVE failed" in result.message and "rdb_last_bgsave_status:err" in result.message
    assert "Redis log" in result.extra["hint"]
    redis_dir = backup_dir / "redis"
    assert not redis_dir.exists() or not any(redis_dir.iterdir())


def test_waits_for_a_running_bgsave_then_takes_its_own(make_redis_server, make_settings):
    source = make_redis_server(appendonly=False, extra={"rdb-key-save-delay": "150000"})
    for index in range(4):
        source.client().set(f"k{index}", index)
    conn = source.client()
    conn.bgsave()
    assert int(conn.info("persistence")["rdb_bgsave_in_progress"]) == 1

    result = execute(make_settings(source.overrides()), BackupRequest("redis"))

    assert result.ok, result.message
    metadata = json.loads(result.metadata_path.read_text())
    assert metadata["bgsave"]["waited_for_another_save"] is True
    first_lastsave = int(conn.info("persistence")["rdb_last_save_time"])
    assert metadata["bgsave"]["lastsave"] == first_lastsave
    assert metadata["keys_count"] == 4


def test_no_aof_flag_and_aof_off_skip_cleanly(make_redis_server, make_settings, backup_dir):
    with_aof = make_redis_server(extra=FAST_SYNC)
    with_aof.client().set("k", "v")
    result = execute(make_settings(with_aof.overrides()), BackupRequest("redis", options={"no_aof": True}))
    assert result.ok
    metadata = json.loads(result.metadata_path.read_text())
    assert metadata["aof"]["status"] == "skipped" and metadata["files"]["aof"] is None
    assert not list((backup_dir / "redis").glob("aof_*"))

    without = make_redis_server(appendonly=False)
    without.client().set("k", "v")
    result = execute(make_settings(without.overrides()), BackupRequest("redis"))
    assert result.ok
    metadata = json.loads(result.metadata_path.read_text())
    assert metadata["aof"]["status"] == "off"


def test_cancel_during_transfer_removes_partial_files(make_redis_server, make_settings, backup_dir):
    source = make_redis_server(appendonly=False)
    populate(source)
    cancel = CancelToken()

    def on_progress(event):
        if event.phase == "transfer":
            cancel.cancel()

    result = execute(make_settings(source.overrides()), BackupRequest("redis"), on_progress=on_progress, cancel=cancel)

    assert result.status == "cancelled"
    assert not any((backup_dir / "redis").iterdir())


def test_restore_refuses_overwrite_read_only_and_running_instance(make_redis_server, make_settings, backup_dir, stopped_servers):
    source = make_redis_server(extra=FAST_SYNC)
    populate(source)
    settings = make_settings(source.overrides())
    assert execute(settings, BackupRequest("redis")).ok
    backup_set = _only_set(backup_dir)

    with pytest.raises(ReadOnlyRefused):
        restore(make_settings(source.overrides(), read_only=True), backup_set, backup_dir / "anywhere")
    with pytest.raises(ConsoleError, match="is running with its data dir"):
        restore(settings, backup_set, source.dir, yes=True)

    target = RedisServer(appendonly=False)
    stopped_servers.append(target)
    (target.dir / "dump.rdb").write_bytes(b"old contents")
    with pytest.raises(ConfirmationRequired, match="--yes"):
        restore(settings, backup_set, target.dir)
    assert (target.dir / "dump.rdb").read_bytes() == b"old contents"
    result = restore(settings, backup_set, target.dir, yes=True, verify_load=True)
    assert result.kept_aside and result.kept_aside[0].read_bytes() == b"old contents"
    assert result.verify is not None and result.verify.keys == result.verify.expected_keys == 313
    assert result.verify.keys_per_db == {"db0": 309, "db1": 2, "db5": 2}
    with pytest.raises(UsageError, match="no AOF"):
        no_aof_dir = backup_dir / "redis"
        for aof in no_aof_dir.glob("aof_*"):
            aof.unlink()
        restore(settings, _only_set(backup_dir), target.dir, with_aof=True, yes=True)


def test_restore_refuses_a_damaged_rdb(make_redis_server, make_settings, backup_dir, stopped_servers):
    source = make_redis_server(appendonly=False)
    populate(source)
    settings = make_settings(source.overrides())
    result = execute(settings, BackupRequest("redis"))
    rdb_gz = next(info.path for info in result.files if info.name.endswith(".rdb.gz"))
    raw = bytearray(gzip.decompress(rdb_gz.read_bytes()))
    raw[len(raw) // 2] ^= 0x01
    rdb_gz.write_bytes(gzip.compress(bytes(raw)))
    target = RedisServer(appendonly=False)
    stopped_servers.append(target)
    with pytest.raises(VerifyFailed, match="sha256"):
        restore(settings, _only_set(backup_dir), target.dir)
    assert not (target.dir / "dump.rdb").exists()


def test_preflight_checks_report_evidence(make_redis_server, make_settings):
    master = make_redis_server(appendonly=True, extra=FAST_SYNC)
    master.client().set("k", "v" * 1000)
    replica = make_redis_server(appendonly=False, extra={"replicaof": f"127.0.0.1 {master.port}"})
    settings = make_settings(master.overrides())
    ids = ["redis.healthy", "redis.memory", "redis.disk_space", "redis.destination_writable", "redis.replication", "redis.aof"]
    pause = threading.Event()
    for _ in range(200):  # the master lists the replica as online once its sync is done
        if master.client().info("replication").get("slave0", {}).get("state") == "online":
            break
        pause.wait(0.05)
    used = int(master.client().info("memory")["used_memory"])
    master.client().config_set("maxmemory", str(int(used * 1.02)))
    results = {r.id: r for r in run_checks(ids, CheckContext(settings))}

    assert results["redis.healthy"].status is Status.OK and "PONG" in results["redis.healthy"].evidence
    assert results["redis.memory"].status is Status.WARN and ">= 90 %" in results["redis.memory"].evidence
    assert results["redis.disk_space"].status is Status.OK and "2 x used memory" in results["redis.disk_space"].evidence
    assert results["redis.destination_writable"].status is Status.OK
    assert results["redis.replication"].status is Status.OK, results["redis.replication"].evidence
    assert "1 replica(s) online" in results["redis.replication"].evidence
    assert results["redis.aof"].status is Status.OK

    replica_settings = make_settings(replica.overrides())
    master.stop()
    for _ in range(100):
        if replica.client().info("replication").get("master_link_status") != "up":
            break
        pause.wait(0.05)
    replica_results = {r.id: r for r in run_checks(["redis.replication", "redis.aof"], CheckContext(replica_settings))}
    assert replica_results["redis.replication"].status is Status.FAIL
    assert "link is down" in replica_results["redis.replication"].evidence
    assert replica_results["redis.aof"].status is Status.SKIP


def test_unreachable_redis_is_a_failed_run_with_one_line(make_settings):
    from tests.servers import free_port

    result = execute(make_settings(**{"redis.port": free_port()}), BackupRequest("redis"))
    assert result.status == "failed"
    assert "pre-flight failed" in result.message and "connection refused" in result.message


def test_restore_reads_a_set_left_by_the_manual_script(make_redis_server, make_settings, backup_dir, stopped_servers):
    source = make_redis_server(appendonly=False)
    expected = populate(source)
    source.client().save()
    redis_dir = backup_dir / "redis"
    redis_dir.mkdir(parents=True)
    (redis_dir / "snapshot_20250101_020000.rdb.gz").write_bytes(gzip.compress((source.dir / "dump.rdb").read_bytes()))
    # defect 8: the script's metadata is not JSON when Redis has a password
    (redis_dir / "snapshot_20250101_020003.json").write_text(
        '{\n  "backup_type": "redis_full",\n  "memory_used_mb": 1.45M,\n  "keys_count": NOAUTH Authentication required.\n}\n')
    target = RedisServer(appendonly=False)
    stopped_servers.append(target)

    result = restore(make_settings(), _only_set(backup_dir), target.dir, verify_load=True)

    assert result.verify is not None and result.verify.keys == expected and result.verify.expected_keys is None
    assert any("CRC64 ok" in check for check in result.checks)


def test_bgsave_timeout_fails_cleanly(make_redis_server, make_settings, backup_dir):
    source = make_redis_server(appendonly=False, extra={"rdb-key-save-delay": "1000000"})
    for index in range(5):
        source.client().set(f"k{index}", index)
    settings = make_settings(source.overrides(), **{"redis.bgsave_timeout_seconds": 1})

    result = execute(settings, BackupRequest("redis"))

    assert result.status == "failed"
    assert "did not finish within 1 s" in result.message and "bgsave_timeout_seconds" in result.extra["hint"]
    assert not (backup_dir / "redis").exists() or not any((backup_dir / "redis").iterdir())


def test_configured_data_dir_is_used_when_config_is_disabled(make_redis_server, make_settings, backup_dir):
    source = make_redis_server(extra={**FAST_SYNC, "rename-command": 'CONFIG ""'})
    populate(source)
    settings = make_settings(source.overrides(), **{"redis.data_dir": str(source.dir)})

    result = execute(settings, BackupRequest("redis"))

    assert result.ok, result.message
    metadata = json.loads(result.metadata_path.read_text())
    assert metadata["rdb_source"] == f"local file {source.dir / 'dump.rdb'}"
    assert metadata["aof"]["status"] == "archived" and metadata["aof"]["format"] == "multi-part"


def test_single_file_aof_of_older_redis_is_stored_as_aof_gz(redis_server, tmp_path):
    from console.artifacts import ArtifactSet
    from console.kinds.redis.aof import archive
    from console.kinds.redis.snapshot import Layout

    data_dir = tmp_path / "old-redis"
    data_dir.mkdir()
    commands = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
    (data_dir / "appendonly.aof").write_bytes(commands)
    layout = Layout(str(data_dir), data_dir, "dump.rdb", True, None, "appendonly.aof", True)
    with ArtifactSet(tmp_path / "out") as files:
        outcome = archive(redis_server.client(), layout, files, "20250101_020000", skip=False, timeout=5,
                          on_progress=None, cancel=None)
    assert outcome.status == "archived" and outcome.format == "single-file"
    assert gzip.decompress((tmp_path / "out" / "aof_20250101_020000.aof.gz").read_bytes()) == commands


def test_missing_configured_data_dir_is_a_preflight_warning_and_the_backup_still_succeeds(
        make_redis_server, make_settings, backup_dir, tmp_path):
    source = make_redis_server(extra=FAST_SYNC)  # AOF on: there is an AOF this run cannot reach
    expected_keys = populate(source)
    missing = tmp_path / "mounted-redis-data"
    settings = make_settings(source.overrides(), **{"redis.data_dir": str(missing)})

    result = execute(settings, BackupRequest("redis"))

    assert result.ok, result.message
    checks = {check.id: check for check in result.checks}
    warning = checks["redis.data_dir"]
    assert warning.status is Status.WARN
    assert warning.evidence == (f"redis.data_dir {missing} does not exist here: the RDB will be fetched over the "
                                "network and the AOF will not be archived")
    metadata = json.loads(result.metadata_path.read_text())
    assert metadata["keys_count"] == expected_keys
    assert metadata["rdb_source"].startswith("network")
    assert metadata["aof"]["status"] == "unavailable" and metadata["files"]["aof"] is None
    assert not list((backup_dir / "redis").glob("aof_*"))

    unset = {r.id: r for r in run_checks(["redis.data_dir"], CheckContext(make_settings(source.overrides())))}
    assert unset["redis.data_dir"].status is Status.SKIP
    present = make_settings(source.overrides(), **{"redis.data_dir": str(source.dir)})
    found = {r.id: r for r in run_checks(["redis.data_dir"], CheckContext(present))}
    assert found["redis.data_dir"].status is Status.OK and str(source.dir) in found["redis.data_dir"].evidence


def test_the_throwaway_server_listens_on_a_private_socket_only(redis_server, make_settings, tmp_path) -> None:
    import shutil
    import stat

    from console.kinds.redis.load import load_in_throwaway_server

    client = redis_server.client()
    client.set("one", "1")
    client.save()
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(redis_server.dir / "dump.rdb", work / "dump.rdb")
    version, per_db = load_in_throwaway_server(work, None, 30)
    assert per_db == {"db0": 1} and version.count(".") == 2
    conf = dict(line.split(" ", 1) for line in (work / "throwaway.conf").read_text().splitlines())
    assert conf["port"] == "0" and conf["unixsocket"] == str(work / "redis.sock") and "bind" not in conf
    assert stat.S_IMODE(work.stat().st_mode) == 0o700


def test_the_rdb_and_the_aof_are_plain_gzip_for_the_manual_tools(make_redis_server, make_settings, backup_dir):
    """Written through ISA-L when it is installed: still one gzip stream `gzip -t` accepts and `gzip -dc`
    turns back into the server's own dump."""
    source = make_redis_server(extra=FAST_SYNC)
    populate(source)
    result = execute(make_settings(source.overrides()), BackupRequest("redis"))
    assert result.ok, result.message
    written = {info.name.split("_", 1)[0]: backup_dir / "redis" / info.name for info in result.files
               if not info.name.endswith(".json")}
    assert set(written) == {"snapshot", "aof"}
    gzip_tool = shutil.which("gzip")
    assert gzip_tool is not None
    for path in written.values():
        subprocess.run([gzip_tool, "-t", str(path)], check=True)
    plain = subprocess.run([gzip_tool, "-dc", str(written["snapshot"])], check=True, capture_output=True).stdout
    assert plain == (source.dir / "dump.rdb").read_bytes()
