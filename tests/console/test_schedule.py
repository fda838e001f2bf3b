"""`schedule print`: systemd units that systemd-analyze accepts, and crontab lines at the manual's times."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from console import schedule
from console.cli import main


def read_unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment]
    parser.read_string(path.read_text())
    return parser


def test_systemd_units_verify(tmp_path, make_settings, capsys):
    out = tmp_path / "units"
    assert main(["schedule", "print", "--systemd", "--output-dir", str(out), "--textfile", str(tmp_path / "bc.prom")]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert "backup-console-nightly.timer" in names and "backup-console-monitor.timer" in names
    assert "backup-console-backup-postgres.service" in names and "backup-console-verify.service" in names
    nightly = read_unit(out / "backup-console-nightly.timer")
    assert nightly["Timer"]["OnCalendar"] == "*-*-* 02:00:00"
    assert nightly["Timer"]["Unit"] == "backup-console-nightly.target"
    assert read_unit(out / "backup-console-monitor.timer")["Timer"]["OnCalendar"] == "*:0/5"
    assert read_unit(out / "backup-console-wal-status.timer")["Timer"]["OnCalendar"] == "hourly"
    verify = read_unit(out / "backup-console-verify.service")
    assert "backup-console-backup-postgres.service" in verify["Unit"]["After"]
    retention_text = (out / "backup-console-retention.service").read_text()
    assert "retention apply --yes\n" in retention_text and retention_text.count("ExecStart=") == 1
    assert "After=network-online.target backup-console-verify.service" in retention_text
    service = read_unit(out / "backup-console-backup-postgres.service")
    assert service["Service"]["EnvironmentFile"] == "/etc/backup-console/env"
    binary = service["Service"]["ExecStart"].split()[0]
    assert Path(binary).is_absolute() and Path(binary).exists()
    assert "--prometheus" in (out / "backup-console-monitor.service").read_text()

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    result = subprocess.run([analyze, "verify", *sorted(str(p) for p in out.iterdir())], cwd=out,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Unknown" not in result.stderr and "not executable" not in result.stderr, result.stderr


def test_crontab_lines(make_settings, capsys):
    assert main(["schedule", "print", "--cron", "--env-file", "/etc/bc env"]) == 0
    text = capsys.readouterr().out
    lines = [line for line in text.splitlines() if line and not line.startswith("#") and "=" not in line.split()[0]]
    nightly = next(line for line in lines if line.startswith("0 2 * * * "))
    assert "set -a && . '/etc/bc env' && set +a && " in nightly
    order = [nightly.index(word) for word in (" backup postgres", " verify", " retention apply --yes")]
    assert order == sorted(order)
    assert any(line.startswith("*/5 * * * * ") and line.endswith(" monitor") for line in lines)
    assert any(line.startswith("0 * * * * ") and line.endswith(" wal status") for line in lines)
    assert "%" not in text  # cron would turn it into a newline


def test_secrets_are_not_in_units(make_settings):
    settings = make_settings(**{"postgres.password": "pg-secret", "alerts.webhook_url": "https://hooks/secret-hook"})
    units = schedule.systemd_units(settings)
    assert not any("pg-secret" in text or "secret-hook" in text for text in units.values())
    assert "pg-secret" not in schedule.crontab(settings) and "secret-hook" not in schedule.crontab(settings)


def test_upload_and_config_follow_the_settings(tmp_path, make_settings):
    config = tmp_path / "bc.yaml"
    config.write_text("s3:\n  bucket: offsite\nalerts:\n  scheduled_kinds: [redis]\n")
    from console.config import load_settings

    settings = load_settings(config, env={})
    units = schedule.systemd_units(settings, binary=["/usr/bin/backup-console"])
    assert set(name for name in units if name.startswith("backup-console-backup-")) == {
        "backup-console-backup-redis.service"}
    assert f"ExecStart=/usr/bin/backup-console --config {config} backup redis --upload" in \
        units["backup-console-backup-redis.service"]
    assert "backup-console-wal-status.timer" not in units  # no PostgreSQL scheduled


def test_every_scheduled_command_exists(make_settings):
    from console.cli import build_parser

    parser = build_parser()
    settings = make_settings(**{"s3.bucket": "offsite"})
    for job in schedule.jobs(settings, textfile="/tmp/bc.prom"):
        for argv in job.commands:
            try:
                parser.parse_args(list(argv))
            except SystemExit as exc:
                raise AssertionError(f"{job.name}: `{' '.join(argv)}` is not a valid command") from exc


def test_units_carry_absolute_paths_and_a_working_directory(tmp_path, monkeypatch):
    """systemd starts in / and cron in $HOME: relative defaults must not resolve there."""
    from console.config import load_settings

    monkeypatch.chdir(tmp_path)
    config = tmp_path / "bc.yaml"
    config.write_text("backup_dir: ./backups\ncerts:\n  cert_dir: ./tls\nconfig_backup:\n  source_dir: app\n")
    settings = load_settings(config, env={})
    service = schedule.systemd_units(settings, binary=["/usr/bin/backup-console"])[
        "backup-console-backup-postgres.service"]
    assert f"WorkingDirectory=-{tmp_path / 'backups'}\n" in service
    assert f"Environment=BACKUP_DIR={tmp_path / 'backups'}\n" in service
    assert f"Environment=CERT_DIR={tmp_path / 'tls'}\n" in service
    assert f"Environment=CONFIG_SOURCE_DIR={tmp_path / 'app'}\n" in service
    assert f"--config {config} " in service
    assert service.index("Environment=BACKUP_DIR") < service.index("EnvironmentFile=")
    cron = schedule.crontab(settings, binary=["/usr/bin/backup-console"])
    nightly = next(line for line in cron.splitlines() if line.startswith("0 2 * * * "))
    assert f"cd {tmp_path / 'backups'} " in nightly and f"BACKUP_DIR={tmp_path / 'backups'}" in nightly
    assert "./" not in cron
