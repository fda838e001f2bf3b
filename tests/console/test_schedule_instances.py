"""`schedule print` with named instances: one backup job per scheduled instance and kind, honouring
each instance's `schedule` (nightly in the 02:00 chain, off, or HH:MM with its own timer)."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import pytest

from console import schedule
from console.config import load_settings

BINARY = ["/usr/bin/backup-console"]

FLEET = """\
backup_dir: {backup_dir}
s3:
  bucket: offsite
alerts:
  scheduled_kinds: [postgres, redis]
postgres:
  instances:
    main:      {{host: db1.internal, databases: [shop, billing]}}
    analytics: {{host: db2.internal, port: 5433, schedule: "03:30"}}
    scratch:   {{host: db3.internal, schedule: "off"}}
redis:
  instances:
    cache: {{port: 6379}}
    queue_2: {{port: 6380, schedule: "7:05"}}
"""


@pytest.fixture
def fleet_settings(tmp_path):
    config = tmp_path / "bc.yaml"
    config.write_text(FLEET.format(backup_dir=tmp_path / "backups"))
    return load_settings(config, env={})


def read_unit(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment]
    parser.read_string(text)
    return parser


def test_one_job_per_scheduled_instance(fleet_settings):
    jobs = {job.name: job for job in schedule.jobs(fleet_settings)}
    backups = {name: job for name, job in jobs.items() if name.startswith("backup-")}
    assert set(backups) == {"backup-postgres@main", "backup-postgres@analytics", "backup-redis@cache",
                            "backup-redis@queue_2"}  # scratch is off
    assert backups["backup-postgres@main"].commands == (("backup", "postgres/main", "--upload"),)
    assert backups["backup-postgres@main"].calendar is None  # in the nightly chain
    analytics = backups["backup-postgres@analytics"]
    assert (analytics.calendar, analytics.cron) == ("*-*-* 03:30:00", "30 3 * * *")
    assert (backups["backup-redis@queue_2"].calendar, backups["backup-redis@queue_2"].cron) == ("*-*-* 07:05:00",
                                                                                            "5 7 * * *")
    # verification waits for the nightly chain only; the own-time backups are verified the next night
    assert set(jobs["verify"].after) == {"backup-postgres@main", "backup-redis@cache"}


def test_systemd_units_per_instance(fleet_settings, tmp_path):
    units = schedule.systemd_units(fleet_settings, binary=BINARY)
    main = units["backup-console-backup-postgres@main.service"]
    assert "ExecStart=/usr/bin/backup-console --config " in main and main.rstrip().count("ExecStart=") == 1
    assert " backup postgres/main --upload\n" in main
    assert "backup-console-backup-postgres@scratch.service" not in units
    nightly = read_unit(units["backup-console-nightly.target"])["Unit"]["Wants"].split()
    assert "backup-console-backup-postgres@main.service" in nightly
    assert "backup-console-backup-redis@cache.service" in nightly
    assert "backup-console-backup-postgres@analytics.service" not in nightly
    timer = read_unit(units["backup-console-backup-postgres@analytics.timer"])
    assert timer["Timer"]["OnCalendar"] == "*-*-* 03:30:00"
    assert timer["Timer"]["Unit"] == "backup-console-backup-postgres@analytics.service"
    verify = read_unit(units["backup-console-verify.service"])
    assert "backup-console-backup-postgres@main.service" in verify["Unit"]["After"]
    assert "analytics" not in verify["Unit"]["After"]
    for name in units:
        assert schedule.valid_unit_name(name), name

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    out = tmp_path / "units"
    out.mkdir()
    for name, text in units.items():
        (out / name).write_text(text.replace("/usr/bin/backup-console", shutil.which("true") or "/bin/true"))
    result = subprocess.run([analyze, "verify", *sorted(str(p) for p in out.iterdir())], cwd=out,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_unit_names_escape_what_systemd_does_not_take():
    assert schedule.unit_escape("analytics") == "analytics"
    assert schedule.unit_escape("queue_2-b") == "queue_2-b"
    assert schedule.unit_escape("a b/c") == r"a\x20b\x2fc"
    assert schedule.valid_unit_name("backup-console-backup-postgres@a\\x20b.service")
    assert not schedule.valid_unit_name("backup console.service")


def test_crontab_per_instance(fleet_settings):
    text = schedule.crontab(fleet_settings, binary=BINARY)
    lines = [line for line in text.splitlines() if line and not line.startswith("#") and "=" not in line.split()[0]]
    nightly = next(line for line in lines if line.startswith("0 2 * * * "))
    order = [nightly.index(word) for word in (" backup postgres/main ", " backup redis/cache ", " verify",
                                              " retention apply --yes")]
    assert order == sorted(order)
    assert "analytics" not in nightly and "scratch" not in text
    assert any(line.startswith("30 3 * * * ") and line.endswith(" backup postgres/analytics --upload") for line in lines)
    assert any(line.startswith("5 7 * * * ") and line.endswith(" backup redis/queue_2 --upload") for line in lines)


def test_every_instance_command_parses(fleet_settings):
    from console.cli import build_parser
    from console.cli.targets import expand_argv
    from console.kinds.registry import KINDS

    parser = build_parser()
    for job in schedule.jobs(fleet_settings):
        for argv in job.commands:
            try:
                parser.parse_args(expand_argv(list(argv), list(KINDS)))
            except SystemExit as exc:
                raise AssertionError(f"{job.name}: `{' '.join(argv)}` is not a valid command") from exc


def test_a_single_default_instance_keeps_its_names(make_settings):
    jobs = [job.name for job in schedule.jobs(make_settings())]
    assert jobs[:5] == ["backup-postgres", "backup-redis", "backup-rabbitmq", "backup-config", "backup-certs"]


def test_default_instance_schedule_off_or_own_time(tmp_path):
    config = tmp_path / "bc.yaml"
    config.write_text("alerts:\n  scheduled_kinds: [redis, rabbitmq]\nredis:\n  instances:\n    default: "
                      "{schedule: \"04:15\"}\n    other: {port: 6380, schedule: \"off\"}\n")
    settings = load_settings(config, env={})
    jobs = {job.name: job for job in schedule.jobs(settings)}
    assert "backup-redis@other" not in jobs and "backup-redis" not in jobs
    # beside another instance, the default one is named: `backup redis` alone would be ambiguous
    assert jobs["backup-redis@default"].cron == "15 4 * * *"
    assert jobs["backup-redis@default"].commands == (("backup", "redis/default"),)
    assert jobs["verify"].after == ("backup-rabbitmq",)
