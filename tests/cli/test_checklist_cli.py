"""`backup-console checklist` and `drill list/show`: output, JSON, exit codes 0/1/2 against real services."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.cli import main
from console.drill import Drill
from tests.certs_fixtures import make_cert, pem, rsa_key


@pytest.fixture
def cli(monkeypatch, capsys, backup_dir):
    monkeypatch.setenv("BACKUP_DIR", str(backup_dir))

    def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def write_config(tmp_path: Path, lists: dict[str, str]) -> Path:
    directory = tmp_path / "my-lists"
    directory.mkdir()
    for name, text in lists.items():
        (directory / name).write_text(text)
    config = tmp_path / "backup-console.yaml"
    config.write_text("checklists:\n  dir: my-lists\n")
    return config


def test_list_of_checklists(cli) -> None:
    code, out, _ = cli("checklist")
    assert code == 0
    assert out.splitlines()[0].split() == ["SERVICE", "ITEMS", "MANUAL", "TITLE"]
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["postgres", "redis", "rabbitmq", "config", "certs"]


def test_redis_checklist_passes_with_evidence(cli, redis_server) -> None:
    pytest.importorskip("console.kinds.redis.checks")
    code, out, err = cli("checklist", "redis", env={"REDIS_PORT": str(redis_server.port)})
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0] == "Redis pre-backup checklist"
    assert lines[1] == "[ OK ] Redis is healthy and accessible"
    assert str(redis_server.port) in lines[2]
    assert lines[-1] == "result: every required item passes"


def test_json_document(cli, redis_server) -> None:
    pytest.importorskip("console.kinds.redis.checks")
    code, out, _ = cli("checklist", "redis", "--json", env={"REDIS_PORT": str(redis_server.port)})
    document = json.loads(out)
    assert code == 0 and document["passed"] is True and document["service"] == "redis"
    item = document["items"][0]
    assert set(item) >= {"id", "title", "required", "manual", "check", "state", "mark", "evidence", "why", "on_fail"}
    assert item["state"] == "ok" and item["mark"] == "[ OK ]"


def test_stopped_postgres_exits_1_with_evidence_and_what_to_do(cli, own_pg_cluster) -> None:
    pytest.importorskip("console.kinds.postgres.checks")
    own_pg_cluster.stop()
    code, out, err = cli("checklist", "postgres", env={"POSTGRES_PORT": str(own_pg_cluster.port)})
    assert code == 1
    lines = out.splitlines()
    index = lines.index("[FAIL] Database is healthy (pg_isready returns 0)")
    assert str(own_pg_cluster.port) in lines[index + 1]
    assert "[    ] WAL archiving is healthy (failed_count 0) (optional)" in lines
    assert "       needs a person (manual item)" in lines
    assert lines[-1].startswith("result: not passed (failing: healthy")
    assert "healthy: what to do: Check that PostgreSQL runs" in err


def test_required_manual_item_needs_a_person_and_exits_1(cli, tmp_path, redis_server) -> None:
    pytest.importorskip("console.kinds.redis.checks")
    config = write_config(tmp_path, {"redis-extra.yaml": "service: redis\nitems:\n"
                                                         "  - id: ticket\n    title: Change ticket open\n    manual: true\n"})
    code, out, _ = cli("--config", str(config), "checklist", "redis", "--json", env={"REDIS_PORT": str(redis_server.port)})
    document = json.loads(out)
    assert code == 1 and document["failing"] == [] and document["needs_person"] == ["ticket"]
    assert document["items"][-1]["state"] == "needs_person"


def test_bad_checklist_file_exits_2_naming_file_and_line(cli, tmp_path) -> None:
    config = write_config(tmp_path, {"bad.yaml": "service: mine\ntitle: Mine\nitems:\n"
                                                 "  - id: a\n    title: A\n    check: postgres.helthy\n"})
    code, out, err = cli("--config", str(config), "checklist", "mine")
    assert code == 2 and out == ""
    assert f"{tmp_path / 'my-lists' / 'bad.yaml'}:6: unknown check 'postgres.helthy'" in err
    assert "Traceback" not in err
    code, _, err = cli("--config", str(config), "checklist", "--json")
    assert code == 2 and json.loads(err)["code"] == 2


def test_unknown_service_exits_2_with_a_suggestion(cli) -> None:
    code, _, err = cli("checklist", "rabbit")
    assert code == 2 and "no checklist for 'rabbit'" in err and "did you mean 'rabbitmq'?" in err


def test_drill_list_and_show(cli, backup_dir) -> None:
    code, out, _ = cli("drill", "list")
    assert code == 0 and out.startswith("no drills under ")
    drill = Drill(backup_dir, "tabletop", ["alice", "bob"], ["postgres"])
    drill.record("postgres: healthy", "check", "ok", "answers SELECT 1")
    drill.add_note("all good")
    drill.finish()
    code, out, _ = cli("drill", "list")
    assert code == 0 and drill.id in out and "OK" in out and "tabletop" in out
    code, out, _ = cli("drill", "list", "--json")
    assert json.loads(out)["drills"][0]["id"] == drill.id
    code, out, _ = cli("drill", "show", drill.id)
    assert code == 0 and "answers SELECT 1" in out and "note " in out and "alice: all good" in out
    code, out, _ = cli("drill", "show", "latest", "--markdown")
    assert out == drill.markdown_path.read_text().rstrip("\n") + "\n"
    code, out, _ = cli("drill", "show", drill.id, "--json")
    assert json.loads(out)["steps"][0]["evidence"] == "answers SELECT 1"
    code, _, err = cli("drill", "show", "nope")
    assert code == 2 and "no drill 'nope'" in err


def test_drill_with_an_unknown_service_exits_2_before_opening_the_console(cli) -> None:
    code, out, err = cli("drill", "--service", "postgress")
    assert code == 2 and out == "" and "no checklist for 'postgress'" in err


def test_the_certificate_expiry_item_says_one_thing(cli, tmp_path) -> None:
    """A WARN on an item titled "No certificate about to expire" said two things at once: the title is neutral
    and the state word and evidence say which way it went, as on the Backup screen."""
    cert_dir = tmp_path / "certs"
    cert_dir.mkdir()
    (cert_dir / "api.pem").write_bytes(pem(make_cert("api.example.com", rsa_key(), days_valid=5)))
    code, out, err = cli("checklist", "certs", env={"CERT_DIR": str(cert_dir),
                                                      "BACKUP_ENCRYPTION_KEY": "a-test-key-of-some-length-0123"})
    assert code == 0, out + err
    lines = out.splitlines()
    item = lines.index("[WARN] Certificate expiry (optional)")
    assert lines[item + 1].strip().startswith("1 certificate(s) need attention: api.example.com (api.pem) expires in")
    assert not any(line.startswith("[") and " No certificate" in line for line in lines), out
