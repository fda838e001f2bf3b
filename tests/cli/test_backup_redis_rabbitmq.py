"""The Redis and RabbitMQ verbs end to end: backup, restore, previews, refusals and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.cli import main
from tests.redis_fixtures import FAST_SYNC, populate
from tests.servers import RedisServer


@pytest.fixture
def redis_env(make_redis_server, monkeypatch, backup_dir):
    server = make_redis_server(password="cli-secret-pw", extra=FAST_SYNC)
    populate(server)
    monkeypatch.setenv("REDIS_PORT", str(server.port))
    monkeypatch.setenv("REDIS_PASSWORD", "cli-secret-pw")
    monkeypatch.setenv("BACKUP_DIR", str(backup_dir))
    return server


@pytest.fixture
def stopped_target():
    server = RedisServer(appendonly=False)
    yield server
    server.destroy()


def test_backup_redis_json_then_restore_with_verify_load(redis_env, stopped_target, capsys):
    assert main(["backup", "redis", "--json"]) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert result["status"] == "ok" and result["set_id"].startswith("redis/")
    assert "cli-secret-pw" not in out + err

    code = main(["restore", "redis", result["set_id"], "--data-dir", str(stopped_target.dir), "--verify-load"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"placed {stopped_target.dir / 'dump.rdb'}" in out
    assert "verify-load: redis-server 7." in out and "loaded 313 keys from dump.rdb" in out
    assert "the backup recorded 313" in out
    assert "warning: AOF takes precedence over RDB" in err

    code = main(["restore", "redis", result["set_id"], "--data-dir", str(stopped_target.dir)])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("backup-console: error: restore would replace") and "--yes" in err

    code = main(["--read-only", "restore", "redis", result["set_id"], "--data-dir", str(stopped_target.dir), "--yes"])
    _out, err = capsys.readouterr()
    assert code == 2 and "read-only" in err


def test_backup_redis_human_output_names_phases_and_files(redis_env, capsys):
    assert main(["backup", "redis", "--no-aof"]) == 0
    out, err = capsys.readouterr()
    assert "redis backup: ok in" in out and "snapshot_" in out and ".rdb.gz" in out and "aof_" not in out
    for phase in ("bgsave ...", "transfer ...", "validate ..."):
        assert phase in err


def test_restore_redis_unknown_set_is_a_usage_error(redis_env, tmp_path, capsys):
    assert main(["restore", "redis", "redis/20000101_000000", "--data-dir", str(tmp_path)]) == 2
    _out, err = capsys.readouterr()
    assert "no redis backup set 'redis/20000101_000000'" in err


def test_backup_rabbitmq_wrong_credentials_exit_1_with_a_clear_line(rabbitmq_api, monkeypatch, backup_dir, capsys):
    monkeypatch.setenv("BACKUP_DIR", str(backup_dir))
    monkeypatch.setenv("RABBITMQ_PASSWORD", "not-the-password")
    assert main(["backup", "rabbitmq"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    failed = [line for line in err.splitlines() if "FAILED" in line]
    assert len(failed) == 1
    assert "wrong RabbitMQ credentials for user 'guest' (HTTP 401" in failed[0]
    assert "not-the-password" not in err
    assert "Traceback" not in err


def test_backup_and_preview_restore_rabbitmq(rabbitmq_vhost, monkeypatch, backup_dir, capsys):
    monkeypatch.setenv("BACKUP_DIR", str(backup_dir))
    assert main(["backup", "rabbitmq", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "ok" and "message bodies are not backed up" in result["message"]

    assert main(["restore", "rabbitmq", result["set_id"], "--vhost", rabbitmq_vhost]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"import of {result['set_id']} (vhost {rabbitmq_vhost}), additive")
    assert "preview only: nothing was imported" in err

    assert main(["--read-only", "restore", "rabbitmq", result["set_id"], "--yes"]) == 2
    assert "read-only" in capsys.readouterr().err

    assert main(["restore", "rabbitmq", result["set_id"], "--vhost", rabbitmq_vhost, "--yes", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["applied"] is True and document["plan"]["vhosts"]["unchanged"] == 1


def test_installed_command_runs_a_redis_backup(redis_env, backup_dir):
    command = Path(sys.executable).with_name("backup-console")
    done = subprocess.run([str(command), "backup", "redis", "--json"], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "ok"
    assert "cli-secret-pw" not in done.stdout + done.stderr


def test_a_wrong_redis_password_is_one_cause_said_once(make_redis_server, backup_dir):
    import os
    import subprocess
    import sys

    server = make_redis_server(password="right-password")
    env = {**os.environ, "REDIS_PORT": str(server.port), "REDIS_PASSWORD": "wrong-password",
           "BACKUP_DIR": str(backup_dir)}
    proc = subprocess.run([sys.executable, "-m", "console.cli", "backup", "redis"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 1
    output = proc.stdout + proc.stderr
    assert output.count("wrong password") == 1, output
    assert "wrong-password" not in output and "right-password" not in output
