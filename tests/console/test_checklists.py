"""Checklist definitions (shipped and operators'), their evaluation against real services, and the gate."""

from __future__ import annotations


from pathlib import Path

import pytest

from console.kinds import registry
from console.checklists import (
    SHIPPED_DIR, ChecklistRun, ItemResult, Status, backup_request, evaluate, load_checklists, override_reason,
    parse_checklist_file,
)
from console.errors import ConfigError, UsageError

# The procedures manual's "Pre-Backup Checklist" sections, word for word.
MANUAL_CHECKLISTS = {
    "postgres": [
        "Database is healthy (pg_isready returns 0)",
        "Disk space available (min 2x database size)",
        "Backup destination mounted and writable",
        "Previous backup completed successfully",
        "No long-running transactions blocking backup",
        "Network connectivity to S3 (if uploading)",
        "All necessary credentials available",
    ],
    "redis": [
        "Redis is healthy and accessible",
        "Memory usage < max memory threshold",
        "Disk space available for snapshot",
        "No replication lag",
        "AOF file is healthy (if enabled)",
        "Network connectivity for S3 upload",
    ],
    "rabbitmq": [
        "RabbitMQ is healthy and accessible",
        "All nodes reachable in cluster",
        "No pending queue operations",
        "Disk space available",
        "Management API accessible",
    ],
}

AGREED_CHECK_IDS = {
    "postgres.healthy", "postgres.disk_space", "postgres.destination_writable", "postgres.previous_backup",
    "postgres.long_transactions", "postgres.credentials", "redis.healthy", "redis.memory", "redis.disk_space",
    "redis.destination_writable", "redis.replication", "redis.aof", "rabbitmq.healthy", "rabbitmq.nodes",
    "rabbitmq.alarms", "rabbitmq.pending_operations", "rabbitmq.disk_space", "rabbitmq.management_api",
    "config.source_readable", "config.encryption_key", "config.destination_writable", "certs.cert_dir_readable",
    "certs.encryption_key", "certs.expiry", "common.s3_reachable",
}


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path


# --- the shipped lists -----------------------------------------------------------------------


def test_shipped_lists_cover_every_item_of_the_manual() -> None:
    checklists = load_checklists()
    assert list(checklists) == ["postgres", "redis", "rabbitmq", "config", "certs"]
    for service, manual_items in MANUAL_CHECKLISTS.items():
        titles = [item.title for item in checklists[service].items]
        missing = [title for title in manual_items if title not in titles]
        assert not missing, f"{service}: manual items missing from the shipped list: {missing}"
    for checklist in checklists.values():
        assert checklist.backup == checklist.service
        for item in checklist.items:
            assert item.why and item.on_fail, f"{item.source}: why and on_fail are required in shipped lists"
            assert item.manual or item.check in AGREED_CHECK_IDS, item.source


def test_shipped_checks_resolve() -> None:
    for checklist in load_checklists().values():
        for item in checklist.automated:
            assert registry.get_check(item.check).id == item.check


def test_config_checklists_in_the_repository_are_the_shipped_files() -> None:
    repo_dir = Path(__file__).resolve().parents[2] / "config" / "checklists"
    assert sorted(p.name for p in repo_dir.glob("*.yaml")) == sorted(p.name for p in SHIPPED_DIR.glob("*.yaml"))
    for path in SHIPPED_DIR.glob("*.yaml"):
        assert (repo_dir / path.name).read_bytes() == path.read_bytes()


def test_every_shipped_checklist_is_declared_as_package_data() -> None:
    import fnmatch
    import tomllib

    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["console"]
    shipped = [p.relative_to(SHIPPED_DIR.parent).as_posix() for p in SHIPPED_DIR.iterdir()]
    assert shipped
    assert [name for name in shipped if not any(fnmatch.fnmatch(name, pat) for pat in patterns)] == []


# --- bad files name file:line -------------------------------------------------------------------

GOOD_HEAD = "service: mine\ntitle: My list\nitems:\n"


@pytest.mark.parametrize(("body", "line", "words"), [
    ("  - id: a\n    title: A\n    check: common.s3_reachible\n", 6, "unknown check 'common.s3_reachible'. Did you mean 'common.s3_reachable'"),
    ("  - id: a\n    title: A\n    check: postgress.healthy\n", 6, "Did you mean 'postgres.healthy'"),
    ("  - id: a\n    manual: true\n", 4, "checklist item 'a' has no 'title'"),
    ("  - id: a\n    title: A\n    manual: true\n    required: yes please\n", 7, "'required' of item 'a' must be true or false"),
    ("  - id: a\n    title: A\n    manual: true\n  - id: a\n    title: B\n    manual: true\n", 7, "duplicate item id 'a'"),
    ("  - id: a\n    title: A\n    manul: true\n", 6, "unknown key 'manul' in checklist item. Did you mean 'manual'"),
    ("  - id: a\n    title: A\n", 4, "needs 'check: <check id>' or 'manual: true'"),
    ("  - id: a\n    title: A\n    manual: true\n    check: common.s3_reachable\n", 7, "both 'check' and 'manual: true'"),
    ("  - id: a\n    title: [A, B]\n    manual: true\n", 5, "'title' must be text"),
    ("  - id: a\n    title: A\n    manual: true\n   bad: [\n", 7, "invalid YAML"),
    ("  - just a string\n", 4, "must be a mapping"),
])
def test_bad_file_is_a_config_error_naming_file_and_line(tmp_path: Path, body: str, line: int, words: str) -> None:
    path = write(tmp_path / "lists", "mine.yaml", GOOD_HEAD + body)
    with pytest.raises(ConfigError) as caught:
        parse_checklist_file(path)
    assert str(caught.value).startswith(f"{path}:{line}: ") or f"{path}:{line}:" in str(caught.value)
    assert words in str(caught.value)
    assert caught.value.exit_code == 2


def test_new_list_without_title_and_unknown_top_key(tmp_path: Path) -> None:
    lists = tmp_path / "lists"
    write(lists, "mine.yaml", "service: mine\nitems:\n  - {id: a, title: A, manual: true}\n")
    with pytest.raises(ConfigError, match=r"mine\.yaml:1: a new checklist 'mine' needs a 'title'"):
        load_checklists(extra_dir=lists)
    path = write(lists, "mine.yaml", "service: mine\ntitel: Mine\nitems: []\n")
    with pytest.raises(ConfigError, match=r"mine\.yaml:2: unknown key 'titel' in checklist file. Did you mean 'title'"):
        parse_checklist_file(path)
    path = write(lists, "mine.yaml", "service: mine\ntitle: Mine\nbackup: postgress\nitems: []\n")
    with pytest.raises(ConfigError, match=r"mine\.yaml:3: unknown backup kind 'postgress'"):
        parse_checklist_file(path)


# --- operators' own lists -------------------------------------------------------------------------


def test_operator_files_add_lists_and_items(tmp_path: Path, make_settings) -> None:
    lists = tmp_path / "lists"
    write(lists, "extra-postgres.yaml", "service: postgres\nitems:\n"
          "  - id: change_ticket\n    title: Change ticket open\n    manual: true\n    required: true\n")
    write(lists, "dns.yaml", "service: dns\ntitle: DNS checklist\nbackup: null\nitems:\n"
          "  - id: zone_export\n    title: Zone exported\n    manual: true\n")
    checklists = load_checklists(make_settings(**{"checklists.dir": str(lists)}))
    postgres = checklists["postgres"]
    assert postgres.items[-1].id == "change_ticket" and postgres.items[-1].required
    assert postgres.items[-1].source == f"{lists / 'extra-postgres.yaml'}:3"
    assert len(postgres.sources) == 2
    assert list(checklists)[-1] == "dns" and checklists["dns"].backup is None
    assert checklists["dns"].items[0].required  # required defaults to true


def test_operator_duplicate_of_a_shipped_item_names_both_places(tmp_path: Path) -> None:
    lists = tmp_path / "lists"
    write(lists, "pg.yaml", "service: postgres\nitems:\n  - id: healthy\n    title: Mine\n    manual: true\n")
    with pytest.raises(ConfigError) as caught:
        load_checklists(extra_dir=lists)
    message = str(caught.value)
    assert message.startswith(f"{lists / 'pg.yaml'}:3: duplicate item id 'healthy'")
    assert "postgres.yaml:8" in message


def test_missing_operator_directory(tmp_path: Path, make_settings) -> None:
    settings = make_settings(**{"checklists.dir": str(tmp_path / "nope")})
    with pytest.raises(ConfigError, match="checklists directory .*nope does not exist"):
        load_checklists(settings)


def test_unknown_provider_is_a_config_error_with_the_place(tmp_path: Path) -> None:
    lists = tmp_path / "lists"
    write(lists, "ghost.yaml", "service: ghost\ntitle: Ghost\nitems:\n  - id: up\n    title: Up\n    check: ghost.up\n")
    with pytest.raises(ConfigError, match=r"ghost.yaml:6: unknown check 'ghost.up'"):
        load_checklists(extra_dir=lists)


# --- evaluation and the gate against real services ----------------------------------------------


def test_redis_checklist_against_a_real_redis(redis_server, make_settings) -> None:
    pytest.importorskip("console.kinds.redis.checks")
    checklist = load_checklists()["redis"]
    results = {r.item_id: r for r in evaluate(checklist, make_settings(redis_server.overrides()))}
    assert results["healthy"].state is Status.OK
    assert str(redis_server.port) in results["healthy"].evidence
    assert results["s3_reachable"].state is Status.SKIP and results["s3_reachable"].state.mark == "[SKIP]"  # passes the gate, named as the Backup screen names it
    assert results["s3_reachable"].evidence.startswith("skipped: ")
    run = ChecklistRun(checklist)
    for result in results.values():
        run.apply(result)
    assert run.gate().open, run.gate().summary()


def test_stopped_postgres_fails_with_evidence_and_closes_the_gate(own_pg_cluster, make_settings) -> None:
    pytest.importorskip("console.kinds.postgres.checks")
    settings = make_settings(own_pg_cluster.overrides())
    own_pg_cluster.stop()
    checklist = load_checklists()["postgres"]
    results = {r.item_id: r for r in evaluate(checklist, settings)}
    assert results["healthy"].state is Status.FAIL
    assert str(own_pg_cluster.port) in results["healthy"].evidence
    assert results["wal_archiving"].state is Status.PENDING  # manual: needs a person
    run = ChecklistRun(checklist)
    for result in results.values():
        run.apply(result)
    gate = run.gate()
    assert not gate.open and "healthy" in [status.item.id for status in gate.blocking]
    with pytest.raises(UsageError, match="needs a typed reason"):
        backup_request(checklist, gate, "   ")
    request = backup_request(checklist, gate, "drill: primary is down on purpose", target="postgres")
    assert request.kind == "postgres" and request.target == "postgres"
    assert request.force_reason.startswith("drill: primary is down on purpose (checklist override: healthy FAIL")


def test_manual_ticks_and_notes_drive_the_gate(tmp_path: Path) -> None:
    lists = tmp_path / "lists"
    write(lists, "pg.yaml", "service: postgres\nitems:\n  - id: ticket\n    title: Ticket\n    manual: true\n")
    checklist = load_checklists(extra_dir=lists)["postgres"]
    run = ChecklistRun(checklist)
    for item in checklist.automated:
        run.apply(ItemResult(item.id, Status.OK, "fine"))
    assert [s.item.id for s in run.gate().blocking] == ["ticket"]
    assert run.toggle_tick("ticket", "alice").evidence == "ticked by alice"
    assert run.gate().open and override_reason(run.gate(), None) is None
    assert backup_request(checklist, run.gate()).force_reason is None
    assert run.add_note("ticket", " CHG-42 ").notes == ["CHG-42"]
    run.toggle_tick("ticket", "alice")
    assert run["ticket"].state is Status.PENDING and not run.gate().open
    with pytest.raises(UsageError, match="checked automatically"):
        run.toggle_tick("healthy", "alice")


def test_states_read_without_colour() -> None:
    assert [state.mark for state in Status] == ["[ OK ]", "[WARN]", "[FAIL]", "[SKIP]", "[ .. ]", "[    ]", "[STOP]", "[OVRD]"]
    assert Status.WARN.passes and not Status.PENDING.passes and not Status.RUNNING.passes
