"""Configuration: discovery, precedence (default < file < env < flag), errors with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.config import MASK, example_yaml, find_config_file, load_settings
from console.errors import ConfigError, ExitCode

REPO = Path(__file__).resolve().parents[2]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_without_any_file(tmp_path):
    settings = load_settings(env={})
    assert settings.config_path is None
    assert settings.postgres.port == 5432
    assert settings.redis.port == 6379
    assert settings.backup_dir == tmp_path / "backups"
    assert settings.sources["postgres.port"] == "default"


def test_precedence_file_then_env_then_flag(tmp_path):
    config = write(tmp_path / "c.yaml", "read_only: false\npostgres:\n  port: 6000\n  host: db.internal\n")
    settings = load_settings(config, env={"POSTGRES_PORT": "7000"}, overrides={"read_only": True})
    assert settings.postgres.host == "db.internal"
    assert settings.sources["postgres.host"] == f"{config}:4"
    assert settings.postgres.port == 7000
    assert settings.sources["postgres.port"] == "env POSTGRES_PORT"
    assert settings.read_only is True
    assert settings.sources["read_only"] == "flag"


def test_manual_environment_variables_override_file(tmp_path):
    config = write(tmp_path / "c.yaml", "backup_dir: /srv/from-file\ns3:\n  bucket: file-bucket\n")
    env = {"BACKUP_DIR": str(tmp_path / "env-dir"), "BACKUP_S3_BUCKET": "env-bucket", "REDIS_PASSWORD": "pw",
           "LOCAL_RETENTION_DAYS": "9", "CERT_DIR": "/etc/ssl/app", "RABBITMQ_USER": "admin"}
    settings = load_settings(config, env=env)
    assert settings.backup_dir == tmp_path / "env-dir"
    assert settings.s3.bucket == "env-bucket"
    assert settings.redis.password == "pw"
    assert settings.retention.local_days == 9
    assert settings.certs.cert_dir == "/etc/ssl/app"
    assert settings.rabbitmq.user == "admin"


def test_empty_environment_variable_counts_as_unset():
    assert load_settings(env={"POSTGRES_HOST": ""}).postgres.host == "127.0.0.1"


def test_discovery_order(tmp_path, monkeypatch):
    xdg = tmp_path / "xdg"
    (xdg / "backup-console").mkdir(parents=True)
    xdg_file = write(xdg / "backup-console" / "config.yaml", "timeout_seconds: 4\n")
    local = write(tmp_path / "backup-console.yaml", "timeout_seconds: 5\n")
    named = write(tmp_path / "named.yaml", "timeout_seconds: 6\n")
    env = {"XDG_CONFIG_HOME": str(xdg)}
    assert find_config_file(None, env) == xdg_file
    xdg_file.unlink()
    assert find_config_file(None, env) == Path("backup-console.yaml")
    assert load_settings(env=env).timeout_seconds == 5.0
    assert find_config_file(None, {**env, "BACKUP_CONSOLE_CONFIG": str(named)}) == named
    assert find_config_file(str(local), {**env, "BACKUP_CONSOLE_CONFIG": str(named)}) == local


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("retention:\n  retension_days: 3\n", "c.yaml:2: unknown key 'retension_days' in section 'retention'."),
        ("postgres:\n  prot: 5432\n", "c.yaml:2: unknown key 'prot' in section 'postgres'. Did you mean 'port'?"),
        ("backup_dri: /x\n", "c.yaml:1: unknown key 'backup_dri'. Did you mean 'backup_dir'?"),
        ("postgres:\n  port: 70000\n", "c.yaml:2: bad port 70000 for 'postgres.port' (must be 1-65535)"),
        ("redis:\n  port: abc\n", "c.yaml:2: 'redis.port' must be a whole number, got str ('abc')"),
        ("read_only: maybe\n", "c.yaml:1: 'read_only' must be true or false, got str ('maybe')"),
        ("postgres: [1, 2]\n", "c.yaml:1: 'postgres' must be a mapping of settings"),
        ("s3:\n  sse: aes256\n", "c.yaml:2: 's3.sse' must be one of AES256, aws:kms, none, got 'aes256'. Did you mean 'AES256'?"),
        ("timeout_seconds: 0\n", "c.yaml:1: 'timeout_seconds' must be greater than 0, got 0.0"),
        ("postgres:\n  lock_wait_timeout_seconds: -5\n",
         "c.yaml:2: 'postgres.lock_wait_timeout_seconds' must be 0 or more, got -5"),
        ("postgres:\n  host: [oops\n", "c.yaml:3: invalid YAML"),
        ("- just\n- a list\n", "c.yaml:1: the file must be a mapping of settings"),
    ],
)
def test_file_errors_name_file_line_and_key(tmp_path, text, message):
    config = write(tmp_path / "c.yaml", text)
    with pytest.raises(ConfigError) as caught:
        load_settings(config, env={})
    assert str(caught.value).startswith(str(config.parent) + "/" + message)
    assert caught.value.exit_code == ExitCode.USAGE


def test_env_errors_name_the_variable_and_mask_secrets():
    with pytest.raises(ConfigError, match="environment variable POSTGRES_PORT: 'postgres.port' must be a whole number, got 'x'"):
        load_settings(env={"POSTGRES_PORT": "x"})
    with pytest.raises(ConfigError, match="bad port 0"):
        load_settings(env={"REDIS_PORT": "0"})


def test_unreadable_and_missing_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml", env={})
    with pytest.raises(ConfigError, match=r"\$BACKUP_CONSOLE_CONFIG"):
        load_settings(env={"BACKUP_CONSOLE_CONFIG": str(tmp_path / "nope.yaml")})
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(binary, env={})


def test_yaml_numbers_for_text_settings_become_text(tmp_path):
    config = write(tmp_path / "c.yaml", "postgres:\n  password: 123456\n")
    assert load_settings(config, env={}).postgres.password == "123456"


def test_describe_masks_secrets_and_reports_sources(tmp_path):
    config = write(tmp_path / "c.yaml", "encryption:\n  key: hunter2\n")
    settings = load_settings(config, env={"POSTGRES_PASSWORD": "pg-secret"})
    described = {value.key: value for value in settings.describe()}
    assert described["encryption.key"].value == MASK
    assert described["encryption.key"].source == f"{config}:2"
    assert described["postgres.password"].value == MASK
    assert described["redis.password"].value == ""
    assert "hunter2" not in repr(settings.describe())


def test_example_file_documents_every_key_and_matches_schema():
    shipped = (REPO / "config" / "backup-console.example.yaml").read_text()
    assert shipped == example_yaml(), "regenerate: backup-console config example > config/backup-console.example.yaml"


def test_example_file_loads_to_the_defaults(tmp_path):
    example = write(tmp_path / "example.yaml", example_yaml())
    from_example = load_settings(example, env={})
    defaults = load_settings(env={})
    assert [(v.key, v.value) for v in from_example.describe()] == [(v.key, v.value) for v in defaults.describe()]


@pytest.mark.parametrize(
    ("text", "overrides", "where", "warn", "critical"),
    [
        ("certs:\n  warn_days: 5\n", {}, "{config}:2", 5, 7),
        ("certs:\n  critical_days: 60\n", {}, "{config}:2", 30, 60),
        ("certs:\n  critical_days: 10\n  warn_days: 9\n", {}, "{config}:3", 9, 10),
        ("certs:\n  warn_days: 30\n", {"certs.critical_days": 45}, "command line", 30, 45),
    ],
)
def test_warn_days_below_critical_days_is_refused_where_it_was_set(tmp_path, text, overrides, where, warn, critical):
    config = write(tmp_path / "c.yaml", text)
    with pytest.raises(ConfigError) as caught:
        load_settings(config, env={}, overrides=overrides)
    assert str(caught.value) == (
        f"{where.format(config=config)}: 'certs.warn_days' ({warn}) must not be smaller than "
        f"'certs.critical_days' ({critical}): a certificate must warn before it turns critical"
    )
    assert caught.value.exit_code == ExitCode.USAGE


def test_warn_days_equal_to_critical_days_is_accepted(tmp_path):
    config = write(tmp_path / "c.yaml", "certs:\n  warn_days: 7\n  critical_days: 7\n")
    settings = load_settings(config, env={})
    assert (settings.certs.warn_days, settings.certs.critical_days) == (7, 7)


def test_warn_days_below_critical_days_exits_2_from_the_cli(tmp_path):
    import subprocess
    import sys

    config = write(tmp_path / "c.yaml", "certs:\n  warn_days: 3\n")
    proc = subprocess.run([sys.executable, "-m", "console.cli", "--config", str(config), "certs", "status"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"backup-console: error: {config}:2: 'certs.warn_days' (3) must not be smaller than "
                                   "'certs.critical_days' (7): a certificate must warn before it turns critical")
    assert proc.stdout == ""


@pytest.mark.parametrize("level", [-7, -1, 1, 19])
def test_base_zstd_level_takes_zstd_fast_levels(tmp_path, level):
    settings = load_settings(write(tmp_path / "c.yaml", f"postgres:\n  base_zstd_level: {level}\n"), env={})
    assert settings.postgres.base_zstd_level == level


@pytest.mark.parametrize("level", [0, -8, 20])
def test_base_zstd_level_outside_zstd_is_refused_with_its_line(tmp_path, level):
    with pytest.raises(ConfigError, match=r"c.yaml:2: 'postgres.base_zstd_level' must be a zstd level from -7 to 19") \
            as caught:
        load_settings(write(tmp_path / "c.yaml", f"postgres:\n  base_zstd_level: {level}\n"), env={})
    assert caught.value.exit_code == ExitCode.USAGE
