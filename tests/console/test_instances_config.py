"""Named instances in the configuration: section keys as defaults, own keys, password files, errors with file:line."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import given, settings as hsettings
from hypothesis import strategies as st

from console.config import MASK, load_settings
from console.errors import ConfigError, ExitCode, UsageError
from console.instances import DEFAULT, dir_name, parse_dir_name, split_target, valid_name

FLEET = """\
backup_dir: {backup_dir}
postgres:
  user: backup
  databases: [app]
  instances:
    main:      {{host: db1.internal, databases: [shop, billing]}}
    analytics: {{host: db2.internal, port: 5433, tags: {{env: prod, team: data}}}}
redis:
  instances:
    cache: {{host: 127.0.0.1, port: 6379}}
    queue: {{host: 127.0.0.1, port: 6380, password_file: {password_file}, s3_prefix: queues/}}
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
def fleet(tmp_path):
    secret = write(tmp_path / "queue.pass", "s3cr3t-queue\nignored second line\n")
    secret.chmod(0o600)
    return write(tmp_path / "c.yaml", FLEET.format(backup_dir=tmp_path / "b", password_file=secret))


def test_instances_inherit_section_keys_and_override_their_own(fleet):
    settings = load_settings(fleet, env={})
    main, analytics = settings.instances_of("postgres")
    assert (main.name, main.section.host, main.section.port, main.section.user) == ("main", "db1.internal", 5432, "backup")
    assert main.section.databases == ["shop", "billing"]
    assert analytics.section.databases == ["app"]  # the section's value is the default
    assert (analytics.section.port, dict(analytics.tags)) == (5433, {"env": "prod", "team": "data"})
    assert [instance.name for instance in settings.instances_of("rabbitmq")] == [DEFAULT]


def test_password_file_first_line_never_shown(fleet):
    settings = load_settings(fleet, env={})
    queue = settings.instance("redis", "queue")
    assert queue.section.password == "s3cr3t-queue"
    assert settings.instance("redis", "cache").section.password == ""
    described = {value.key: value for value in settings.describe()}
    assert described["redis.instances.queue.password"].value == MASK
    assert "s3cr3t" not in repr(settings.describe()) and "s3cr3t" not in repr(settings)


def test_for_instance_scopes_section_directory_and_s3_prefix(fleet):
    settings = load_settings(fleet, env={})
    scoped = settings.for_instance("redis", "queue")
    assert scoped.redis.port == 6380 and scoped.s3.prefix == "queues"
    assert scoped.root.kind_dir("redis") == settings.backup_dir / "redis@queue"
    assert scoped.root.kind_dir("postgres") == settings.backup_dir / "postgres"  # other kinds untouched
    assert scoped.instance_of("redis") == "queue" and settings.instance_of("redis") == DEFAULT


def test_describe_lists_every_instance_key_with_its_line(fleet):
    described = {value.key: value for value in load_settings(fleet, env={}).describe()}
    assert described["postgres.instances.analytics.port"].value == 5433
    assert described["postgres.instances.analytics.port"].source == f"{fleet}:7"
    assert described["postgres.instances.analytics.tags"].value == {"env": "prod", "team": "data"}


def test_environment_sets_the_section_not_an_instance_own_key(fleet):
    settings = load_settings(fleet, env={"POSTGRES_HOST": "from-env", "POSTGRES_PORT": "6000"})
    main, analytics = settings.instances_of("postgres")
    assert main.section.host == "db1.internal"  # its own key is more specific than the variable
    assert (main.section.port, analytics.section.port) == (6000, 5433)


def test_unknown_instance_is_a_usage_error_naming_the_choices(fleet):
    settings = load_settings(fleet, env={})
    with pytest.raises(UsageError, match="no instance 'analytcs' .*did you mean 'analytics'.*main, analytics"):
        settings.for_instance("postgres", "analytcs")


@pytest.mark.parametrize("text, message", [
    ("postgres:\n  instances:\n    main: {hots: x}\n", r"c.yaml:3: unknown key 'hots' in section 'postgres.instances.main'\. Did you mean 'host'\?"),
    ("postgres:\n  instances:\n    Main: {host: x}\n", r"c.yaml:3: instance name 'Main'"),
    ("postgres:\n  instances:\n    main: {port: 99999}\n", r"c.yaml:3: bad port 99999"),
    ("redis:\n  instances:\n    a: {}\n    a: {}\n", r"c.yaml:4: 'a' in section 'redis.instances' is given twice"),
    ("redis:\n  instances: [a, b]\n", r"c.yaml:2: 'redis.instances' must map instance names"),
    ("redis:\n  instances:\n    a: {tags: [x]}\n", r"c.yaml:3: 'tags' must map names to words"),
    ("redis:\n  instances:\n    a: {schedule: sometimes}\n", r"c.yaml:3: 'schedule' must be nightly, off or a time"),
    ("redis:\n  instances:\n    a: {retention: {local_dys: 3}}\n", r"unknown key 'local_dys' in 'retention'\. Did you mean 'local_days'"),
    ("redis:\n  instances:\n    a: {password_file: /nonexistent/pass}\n", r"c.yaml:3: cannot read 'redis.password_file' /nonexistent/pass"),
    ("s3:\n  instances:\n    a: {}\n", r"c.yaml:2: unknown key 'instances' in section 's3'"),
])
def test_instance_errors_name_file_and_line(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path / "c.yaml", text), env={})


def test_single_instance_file_is_the_default_instance(tmp_path):
    settings = load_settings(write(tmp_path / "c.yaml", "postgres:\n  port: 6000\n"), env={})
    (only,) = settings.instances_of("postgres")
    assert (only.name, only.section.port) == (DEFAULT, 6000)
    assert settings.root.kind_dir("postgres") == settings.backup_dir / "postgres"


def test_dir_names_round_trip():
    assert dir_name("postgres") == "postgres" and parse_dir_name("postgres") == ("postgres", DEFAULT)
    assert dir_name("redis", "cache") == "redis@cache" and parse_dir_name("redis@cache") == ("redis", "cache")
    assert parse_dir_name("redis@default") is None and parse_dir_name("redis@") is None


@given(st.text(alphabet=string.ascii_letters + string.digits + "@_-/. ", max_size=30))
@hsettings(max_examples=300)
def test_dir_name_parser_never_accepts_what_dir_name_cannot_write(text):
    parsed = parse_dir_name(text)
    if parsed is not None and "@" in text:
        assert valid_name(parsed[1]) and dir_name(*parsed) == text


@given(st.text(max_size=40))
def test_split_target_returns_a_target_or_a_reason(text):
    try:
        target = split_target(text)
    except ValueError as exc:
        assert str(exc)
    else:
        assert str(target) == text.strip()


def test_an_instance_password_file_wins_over_the_section_password(tmp_path):
    secret = write(tmp_path / "b.pass", "broker-b-secret\n")
    config = write(tmp_path / "c.yaml", f"rabbitmq:\n  password: section-secret\n  instances:\n"
                                        f"    a: {{}}\n    b: {{password_file: {secret}}}\n")
    settings = load_settings(config, env={})
    assert settings.instance("rabbitmq", "a").section.password == "section-secret"
    assert settings.instance("rabbitmq", "b").section.password == "broker-b-secret"


def test_a_physical_backup_of_a_named_instance_is_planned_like_the_default_one(fleet):
    from console.kinds.registry import get

    settings = load_settings(fleet, env={})
    requests = get("postgres").requests(settings, options={"physical": True}, instance="analytics")
    assert [(request.instance, request.options.get("physical")) for request in requests] == [("analytics", True)]


def test_each_named_instance_archives_wal_into_its_own_directory(tmp_path):
    """The section's wal_archive_dir is the default instance's; a named instance never inherits it."""
    config = write(tmp_path / "c.yaml", f"backup_dir: {tmp_path / 'b'}\npostgres:\n  wal_archive_dir: /srv/wal\n"
                                        f"  instances:\n    main: {{}}\n    analytics: {{wal_archive_dir: /srv/wal-a}}\n")
    settings = load_settings(config, env={})
    assert settings.postgres.wal_archive_dir == "/srv/wal"
    assert settings.for_instance("postgres", "main").postgres.wal_archive_dir == str(tmp_path / "b" / "postgres@main" / "wal")
    assert settings.for_instance("postgres", "analytics").postgres.wal_archive_dir == "/srv/wal-a"
    assert settings.for_instance("postgres", "main").root.base_backups == tmp_path / "b" / "postgres@main" / "base"


def test_two_instances_archiving_into_one_directory_are_refused_with_the_line(tmp_path):
    config = write(tmp_path / "c.yaml", "postgres:\n  wal_archive_dir: /srv/wal\n  instances:\n    main: {}\n"
                                        "    analytics: {wal_archive_dir: /srv/wal/}\n")
    with pytest.raises(ConfigError, match=r"c.yaml:5: postgres.instances.analytics archives WAL into /srv/wal, as "
                                          r"postgres.wal_archive_dir does") as caught:
        load_settings(config, env={})
    assert caught.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize("written, read", [("off", "off"), ("03:30", "03:30"), ('"03:30"', "03:30"), ("nightly", "nightly")])
def test_schedule_as_yaml_1_1_reads_it(tmp_path, written, read):
    config = write(tmp_path / "c.yaml", f"redis:\n  instances:\n    a: {{schedule: {written}}}\n")
    assert load_settings(config, env={}).instance("redis", "a").schedule == read


def test_previous_backup_check_reads_its_own_instance(tmp_path, pg_cluster):
    """A failed run of postgres/analytics is analytics' problem, not main's: each reads its own."""
    import time as _time

    from console.kinds.postgres.checks import previous_backup
    from console.preflight import CheckContext
    from console.runlog import RunRecord, record_run
    from console.status import Status

    config = write(tmp_path / "c.yaml", f"backup_dir: {tmp_path / 'b'}\npostgres:\n  instances:\n"
                                        f"    main: {{port: {pg_cluster.port}}}\n    analytics: {{port: {pg_cluster.port}}}\n")
    settings = load_settings(config, env={})
    now = _time.time()
    record_run(settings.backup_dir, RunRecord("backup", "postgres", "postgres", "failed", now - 1, now, "disk full",
                                              instance="analytics"))
    main = previous_backup(CheckContext(settings.for_instance("postgres", "main"), "postgres", False, {}))
    analytics = previous_backup(CheckContext(settings.for_instance("postgres", "analytics"), "postgres", False, {}))
    assert main[0] is Status.OK and analytics[0] is Status.WARN and "disk full" in analytics[1]
