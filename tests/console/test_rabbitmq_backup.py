"""RabbitMQ backups against the machine's broker, each test in its own throw-away vhost."""

from __future__ import annotations

import gzip
import json
import re
import stat
import time
import uuid
from urllib.parse import quote

import pytest
import requests

from console.catalog import scan
from console.errors import ReadOnlyRefused
from console.kinds.base import BackupRequest
from console.kinds.rabbitmq.restore import apply_import, plan_import
from console.kinds.registry import run_checks
from console.preflight import CheckContext
from console.runner import execute
from console.status import Status
from tests.servers import RABBIT_API, RABBIT_AUTH


def api(method: str, path: str, **kwargs):
    response = requests.request(method, f"{RABBIT_API}/api/{path}", auth=RABBIT_AUTH, timeout=10, **kwargs)
    response.raise_for_status()
    return response


def vhost_part(definitions: dict, vhost: str, users: set[str]) -> dict:
    """The objects of one vhost (and the given users), sorted, for comparing two exports."""
    part = {"vhosts": [v["name"] for v in definitions["vhosts"] if v["name"] == vhost],
            "users": sorted((u["name"], u["password_hash"], tuple(sorted(u["tags"]))) for u in definitions["users"]
                            if u["name"] in users)}
    for key in ("permissions", "exchanges", "queues", "bindings", "policies", "parameters"):
        part[key] = sorted(json.dumps(item, sort_keys=True) for item in definitions.get(key, []) if item.get("vhost") == vhost)
    return part


def wait_for_messages(vhost: str, queue: str, count: int) -> None:
    """The API's message counts lag the broker by its statistics interval (5 s by default)."""
    deadline = time.monotonic() + 15
    while api("GET", f"queues/{quote(vhost, safe='')}/{queue}").json().get("messages") != count:
        assert time.monotonic() < deadline, "message counts never reached the API"
        time.sleep(0.25)


@pytest.fixture
def populated_vhost(rabbitmq_vhost):
    vhost = rabbitmq_vhost
    v = quote(vhost, safe="")
    user = f"bc-user-{uuid.uuid4().hex[:8]}"
    api("PUT", f"exchanges/{v}/bc.direct", json={"type": "direct", "durable": True})
    api("PUT", f"exchanges/{v}/bc.topic", json={"type": "topic", "durable": True,
                                                 "arguments": {"alternate-exchange": "bc.direct"}})
    api("PUT", f"queues/{v}/orders", json={"durable": True, "arguments": {"x-max-length": 1000}})
    api("PUT", f"queues/{v}/audit", json={"durable": True, "arguments": {"x-message-ttl": 600000}})
    api("PUT", f"queues/{v}/scratch", json={"durable": False, "auto_delete": False})
    api("POST", f"bindings/{v}/e/bc.direct/q/orders", json={"routing_key": "order.created"})
    api("POST", f"bindings/{v}/e/bc.topic/q/audit", json={"routing_key": "#", "arguments": {}})
    api("POST", f"bindings/{v}/e/bc.topic/e/bc.direct", json={"routing_key": "order.*"})
    api("PUT", f"policies/{v}/bc-limit", json={"pattern": "^audit$", "definition": {"max-length": 500},
                                                "apply-to": "queues", "priority": 1})
    api("PUT", f"users/{user}", json={"password": "user-pw-123", "tags": "monitoring"})
    api("PUT", f"permissions/{v}/{user}", json={"configure": "^bc\\.", "write": ".*", "read": ".*"})
    for index in range(3):
        api("POST", f"exchanges/{v}/amq.default/publish", json={
            "properties": {"delivery_mode": 2}, "routing_key": "orders", "payload": f"message {index}",
            "payload_encoding": "string"})
    yield vhost, user
    requests.delete(f"{RABBIT_API}/api/users/{user}", auth=RABBIT_AUTH, timeout=10)


def test_backup_delete_vhost_restore_gives_equal_definitions(populated_vhost, make_settings, backup_dir):
    vhost, user = populated_vhost
    settings = make_settings()
    before = vhost_part(api("GET", "definitions").json(), vhost, {user})
    wait_for_messages(vhost, "orders", 3)

    result = execute(settings, BackupRequest("rabbitmq"))

    assert result.ok, result.message
    directory = backup_dir / "rabbitmq"
    stamp = result.set_id.split("/")[1]
    names = {info.name for info in result.files}
    for listing in ("definitions_{}.json.gz", "queues_{}.txt.gz", "exchanges_{}.txt.gz", "bindings_{}.txt.gz",
                    "policies_{}.txt.gz", "users_{}.txt.gz", "message_counts_{}.txt.gz", "api_queues_{}.json.gz",
                    "backup_{}.json"):
        assert listing.format(stamp) in names
    assert stat.S_IMODE((directory / f"definitions_{stamp}.json.gz").stat().st_mode) == 0o600
    metadata = json.loads((directory / f"backup_{stamp}.json").read_text())  # plain JSON, not gzipped
    assert metadata["backup_type"] == "rabbitmq_full"
    assert re.fullmatch(r"\d+\.\d+\.\d+", metadata["rabbitmq_version"])
    assert metadata["cluster_info"]["nodes"] == 1 and metadata["cluster_info"]["status"] == "running"
    assert metadata["files"]["definitions"] == f"definitions_{stamp}.json.gz"
    assert metadata["messages_backed_up"] is False and "not backed up" in metadata["messages_note"]
    counts = {(q["vhost"], q["queue"]): q["messages"] for q in metadata["message_counts"]}
    assert counts[(vhost, "orders")] == 3
    assert {a["role"] for a in metadata["artifacts"]} >= {"definitions", "queues", "message_counts"}
    queues_listing = gzip.decompress((directory / f"queues_{stamp}.txt.gz").read_bytes()).decode()
    assert "Listing queues for all vhosts" in queues_listing
    assert f"{vhost}\torders\ttrue\tfalse\t" in queues_listing
    exchanges_listing = gzip.decompress((directory / f"exchanges_{stamp}.txt.gz").read_bytes()).decode()
    assert "\n/\tamq.direct\tdirect\t" in exchanges_listing and f"\n{vhost}\tbc.topic\ttopic\t" in exchanges_listing
    bindings_listing = gzip.decompress((directory / f"bindings_{stamp}.txt.gz").read_bytes()).decode()
    assert f"{vhost}\tbc.topic\texchange\tbc.direct\texchange\torder.*" in bindings_listing
    message_listing = gzip.decompress((directory / f"message_counts_{stamp}.txt.gz").read_bytes()).decode()
    assert f"{vhost}\torders\t3\t3\t0" in message_listing

    api("DELETE", f"vhosts/{quote(vhost, safe='')}")
    api("DELETE", f"users/{user}")
    backup_set = scan(backup_dir, ["rabbitmq"]).sets[0]
    plan = plan_import(settings, backup_set, vhost)
    assert plan.plan["vhosts"].create == [vhost]
    assert plan.plan["users"].create == [user]
    assert len(plan.plan["queues"].create) == 3 and len(plan.plan["exchanges"].create) == 2
    assert len(plan.plan["bindings"].create) == 3 and plan.plan["policies"].create == [f"{vhost}/bc-limit"]
    assert not any(item.change for item in plan.plan.values())
    assert any("3 to create" in line for line in plan.lines())

    apply_import(settings, plan)

    after = vhost_part(api("GET", "definitions").json(), vhost, {user})
    assert after == before
    assert api("GET", f"queues/{quote(vhost, safe='')}/orders").json()["name"] == "orders"


def test_preview_names_what_an_import_would_overwrite(populated_vhost, make_settings, backup_dir):
    vhost, user = populated_vhost
    settings = make_settings()
    assert execute(settings, BackupRequest("rabbitmq")).ok
    api("PUT", f"users/{user}", json={"password": "changed-since", "tags": "monitoring"})
    api("PUT", f"policies/{quote(vhost, safe='')}/bc-limit", json={"pattern": "^audit$", "definition": {"max-length": 9},
                                                                   "apply-to": "queues", "priority": 1})
    plan = plan_import(settings, scan(backup_dir, ["rabbitmq"]).sets[0], vhost)
    assert plan.plan["users"].change == [user]
    assert plan.plan["policies"].change == [f"{vhost}/bc-limit"]
    assert plan.plan["queues"].create == [] and plan.plan["queues"].unchanged == 3
    assert any("overwritten" in line for line in plan.lines())
    with pytest.raises(ReadOnlyRefused):
        apply_import(make_settings(read_only=True), plan)


def test_single_vhost_backup_restores_into_another_vhost(populated_vhost, make_settings, backup_dir):
    vhost, _user = populated_vhost
    settings = make_settings(**{"rabbitmq.vhost": vhost})
    result = execute(settings, BackupRequest("rabbitmq"))
    assert result.ok, result.message
    metadata = json.loads(result.metadata_path.read_text())
    assert metadata["vhost"] == vhost and metadata["scope"] == f"vhost {vhost}"
    assert {q["vhost"] for q in metadata["message_counts"]} == {vhost}

    copy = f"bc-test-copy-{uuid.uuid4().hex[:6]}"
    try:
        plan = plan_import(settings, scan(backup_dir, ["rabbitmq"]).sets[0], copy)
        assert plan.create_vhost == copy and plan.plan["vhosts"].create == [copy]
        apply_import(settings, plan)
        api("PUT", f"permissions/{quote(copy, safe='')}/guest", json={"configure": ".*", "write": ".*", "read": ".*"})
        names = sorted(q["name"] for q in api("GET", f"queues/{quote(copy, safe='')}").json())
        assert names == ["audit", "orders", "scratch"]
    finally:
        requests.delete(f"{RABBIT_API}/api/vhosts/{quote(copy, safe='')}", auth=RABBIT_AUTH, timeout=10)


def test_preflight_checks_pass_and_wrong_credentials_fail_clearly(rabbitmq_vhost, make_settings):
    ids = ["rabbitmq.management_api", "rabbitmq.healthy", "rabbitmq.nodes", "rabbitmq.alarms",
           "rabbitmq.pending_operations", "rabbitmq.disk_space"]
    results = {r.id: r for r in run_checks(ids, CheckContext(make_settings(**{"rabbitmq.vhost": rabbitmq_vhost})))}
    for check_id in ids:
        assert results[check_id].status is Status.OK, (check_id, results[check_id].evidence)
    assert "administrator" in results["rabbitmq.management_api"].evidence
    assert "nodes running" in results["rabbitmq.nodes"].evidence

    bad = make_settings(**{"rabbitmq.password": "definitely-wrong"})
    failed = run_checks(["rabbitmq.management_api"], CheckContext(bad))[0]
    assert failed.status is Status.FAIL
    assert failed.evidence.startswith("wrong RabbitMQ credentials")
    assert "definitely-wrong" not in failed.evidence


def test_wrong_credentials_fail_the_run_and_write_nothing(rabbitmq_api, make_settings, backup_dir):
    result = execute(make_settings(**{"rabbitmq.password": "definitely-wrong"}), BackupRequest("rabbitmq"))
    assert result.status == "failed"
    assert "wrong RabbitMQ credentials" in result.message
    assert not (backup_dir / "rabbitmq").exists() or not any((backup_dir / "rabbitmq").iterdir())


def test_preview_reads_a_set_left_by_the_manual_script(rabbitmq_vhost, make_settings, backup_dir):
    # the manual's Step 8 gzips the metadata too (defect 14); its definitions come from export_definitions
    directory = backup_dir / "rabbitmq"
    directory.mkdir(parents=True)
    exported = api("GET", "definitions").json()
    (directory / "definitions_20250101_020000.json.gz").write_bytes(gzip.compress(json.dumps(exported).encode()))
    (directory / "backup_20250101_020004.json.gz").write_bytes(gzip.compress(
        b'{"backup_type": "rabbitmq_full", "rabbitmq_version": "RabbitMQ version: 3.10.8"}'))
    backup_set = scan(backup_dir, ["rabbitmq"]).sets[0]
    plan = plan_import(make_settings(), backup_set, rabbitmq_vhost)
    assert plan.scope == f"vhost {rabbitmq_vhost}"
    assert plan.plan["vhosts"].unchanged == 1 and not plan.has_changes


def test_definitions_are_encrypted_when_a_key_is_configured(populated_vhost, make_settings, backup_dir):
    from console.errors import ConfigError, CryptoError

    vhost, user = populated_vhost
    settings = make_settings(**{"rabbitmq.vhost": vhost, "encryption.key": "correct horse battery"})
    result = execute(settings, BackupRequest("rabbitmq"))
    assert result.ok, result.message
    sealed = next(info.path for info in result.files if info.name.startswith("definitions_"))
    assert sealed.name.endswith(".json.gz.enc")
    assert stat.S_IMODE(sealed.stat().st_mode) == 0o600
    assert b"bc.direct" not in sealed.read_bytes() and not sealed.read_bytes().startswith(b"\x1f\x8b")
    metadata = json.loads(result.metadata_path.read_text())
    assert metadata["definitions_encrypted"] is True and metadata["files"]["definitions"] == sealed.name
    assert "correct horse" not in result.metadata_path.read_text()

    backup_set = scan(backup_dir, ["rabbitmq"]).sets[0]
    assert backup_set.file("definitions").path == sealed
    plan = plan_import(settings, backup_set)
    assert plan.plan["queues"].unchanged == 3 and not plan.has_changes
    with pytest.raises(ConfigError, match="no encryption key"):
        plan_import(make_settings(), backup_set)
    with pytest.raises(CryptoError):
        plan_import(make_settings(**{"encryption.key": "wrong key"}), backup_set)


def test_pending_operations_warns_with_unacknowledged_counts_per_queue(populated_vhost, make_settings):
    from tests.rabbitmq_fixtures import UnackedConsumer

    vhost, _user = populated_vhost
    settings = make_settings(**{"rabbitmq.vhost": vhost})
    with UnackedConsumer(vhost, "orders"):
        deadline = time.monotonic() + 15
        while api("GET", f"queues/{quote(vhost, safe='')}/orders").json().get("messages_unacknowledged") != 3:
            assert time.monotonic() < deadline, "unacknowledged count never reached the API"
            time.sleep(0.25)
        result = run_checks(["rabbitmq.pending_operations"], CheckContext(settings))[0]
    assert result.status is Status.WARN
    assert result.evidence == f"unacknowledged messages in 1 queue(s): {vhost}/orders: 3"
    assert result.details["unacknowledged"] == {f"{vhost}/orders": 3}


def test_encrypted_definitions_verify_and_a_flipped_byte_fails(populated_vhost, make_settings, backup_dir):
    from console.verify.run import verify

    vhost, _user = populated_vhost
    settings = make_settings(**{"rabbitmq.vhost": vhost, "encryption.key": "correct horse battery"})
    result = execute(settings, BackupRequest("rabbitmq"))
    assert result.ok, result.message
    (checked,) = verify(settings, kind="rabbitmq").sets
    assert checked.status == "passed", [(o.check, o.status, o.message) for o in checked.checks]
    assert any(o.check == "decrypt" and o.status == "passed" for o in checked.checks)

    sealed = next(info.path for info in result.files if info.name.endswith(".enc"))
    data = bytearray(sealed.read_bytes())
    data[len(data) // 2] ^= 0x01
    sealed.write_bytes(bytes(data))
    (damaged,) = verify(settings, kind="rabbitmq").sets
    assert damaged.status == "failed"
    assert any(o.status == "failed" and sealed.name in (o.file or "") for o in damaged.checks), damaged.checks
