"""`schedule print --kubernetes`: one CronJob per scheduled instance and kind plus verify, retention,
monitor (and WAL status), credentials only through Secret references, the config from a ConfigMap."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from console import kubernetes, schedule
from console.cli import main
from console.config import SECTION_OF_KIND, load_settings, schema

FLEET = """\
backup_dir: {backup_dir}
s3:
  bucket: offsite
  endpoint_url: http://minio-user:minio-url-secret@minio:9000
alerts:
  webhook_url: https://hooks.example/T0/secret-hook-token
  scheduled_kinds: [postgres, redis, rabbitmq]
encryption:
  key_file: {key_file}
rabbitmq:
  password: rabbit-file-secret
postgres:
  password: pg-file-secret
  instances:
    main:      {{host: db1.internal, databases: [shop, billing]}}
    analytics: {{host: db2.internal, port: 5433, schedule: "03:30", password: analytics-own-secret}}
    Scratch_ignored: {{}}
redis:
  instances:
    cache: {{port: 6379}}
    queue_2: {{port: 6380, password_file: {queue_pass}}}
    queue-2: {{port: 6381, schedule: "off"}}
"""

DNS_1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


@pytest.fixture
def fleet(tmp_path):
    queue_pass = tmp_path / "redis-queue.pass"
    queue_pass.write_text("queue-file-secret\n")
    queue_pass.chmod(0o600)
    key_file = tmp_path / "encryption.key"
    key_file.write_text("encryption-file-secret\n")
    key_file.chmod(0o600)
    config = tmp_path / "bc.yaml"
    config.write_text(FLEET.format(backup_dir=tmp_path / "backups", queue_pass=queue_pass, key_file=key_file)
                      .replace("    Scratch_ignored: {}\n", ""))
    env = {"POSTGRES_PASSWORD": "pg-env-secret", "REDIS_PASSWORD": "redis-env-secret",
           "BACKUP_ENCRYPTION_KEY": "enc-env-secret"}
    return config, load_settings(config, env=env), env


def secret_values(settings) -> set[str]:
    """Every secret the settings hold: each secret key's value, each instance's, passwords in URLs."""
    values = set()
    for spec in schema():
        if spec.secret:
            section, _, name = spec.key.rpartition(".")
            value = getattr(getattr(settings, section) if section else settings, name)
            if value:
                values.add(str(value))
    for kind, section in SECTION_OF_KIND.items():
        for instance in settings.instances_of(kind):
            for spec in schema():
                if spec.secret and spec.key.startswith(section + ".") and instance.section is not None:
                    value = getattr(instance.section, spec.key.split(".", 1)[1])
                    if value:
                        values.add(str(value))
    if settings.encryption.key_file:  # read when used, not at load: the file's first line
        values.add(Path(settings.encryption.key_file).read_text().splitlines()[0])
    values.add("minio-url-secret")
    return values


def cronjobs_of(text: str) -> list[dict]:
    documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    assert documents and all(doc["kind"] == "CronJob" for doc in documents)
    return documents


def test_every_cronjob_is_well_formed_and_holds_no_secret(fleet, capsys, monkeypatch):
    config, settings, env = fleet
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["--config", str(config), "schedule", "print", "--kubernetes", "--image", "registry.example/bc:1.4",
                 "--config-map", "bc-config", "--secret", "bc-secrets", "--namespace", "backups",
                 "--time-zone", "Europe/Berlin"]) == 0
    text = capsys.readouterr().out
    secrets = secret_values(settings)
    assert {"pg-env-secret", "redis-env-secret", "queue-file-secret", "encryption-file-secret",
            "analytics-own-secret", "rabbit-file-secret", "https://hooks.example/T0/secret-hook-token"} <= secrets
    for value in secrets:
        assert value not in text, f"a secret value is in the output: {value[:3]}..."

    jobs = cronjobs_of(text)
    names = [job["metadata"]["name"] for job in jobs]
    assert len(set(names)) == len(names)
    by_component: dict[str, list[dict]] = {}
    for job in jobs:
        name = job["metadata"]["name"]
        assert job["apiVersion"] == "batch/v1" and len(name) <= 52 and DNS_1123.fullmatch(name), name
        assert job["metadata"]["namespace"] == "backups"
        spec = job["spec"]
        assert spec["concurrencyPolicy"] == "Forbid"
        assert isinstance(spec["startingDeadlineSeconds"], int) and spec["startingDeadlineSeconds"] > 0
        assert spec["timeZone"] == "Europe/Berlin"
        assert len(spec["schedule"].split()) == 5
        job_spec = spec["jobTemplate"]["spec"]
        assert isinstance(job_spec["backoffLimit"], int) and job_spec["backoffLimit"] >= 0
        pod = job_spec["template"]["spec"]
        assert pod["restartPolicy"] in ("OnFailure", "Never")
        (container,) = pod["containers"]
        assert container["image"] == "registry.example/bc:1.4"
        assert container["envFrom"] == [{"secretRef": {"name": "bc-secrets"}}]
        for variable in container.get("env", []):  # plain values only for paths, secrets only by reference
            assert "valueFrom" in variable or variable["name"] in ("BACKUP_DIR",), variable
            if "valueFrom" in variable:
                assert variable["valueFrom"]["secretKeyRef"]["name"] == "bc-secrets"
        args = container["args"]
        assert args[:2] == ["--config", kubernetes.CONFIG_PATH]
        mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
        config_mount = mounts[kubernetes.CONFIG_PATH]
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        assert volumes[config_mount["name"]]["configMap"]["name"] == "bc-config"
        assert config_mount["readOnly"] is True
        data = mounts[kubernetes.DATA_DIR]
        assert volumes[data["name"]]["persistentVolumeClaim"]["claimName"] == kubernetes.DEFAULT_VOLUME_CLAIM
        for path in (str(config.parent / "redis-queue.pass"), str(config.parent / "encryption.key")):
            mount = mounts[path]  # the configured secret files, from the Secret's keys
            assert mount["readOnly"] is True and volumes[mount["name"]]["secret"]["secretName"] == "bc-secrets"
            assert mount["subPath"] in {"redis-queue.pass", "encryption.key"}
        for volume in volumes.values():
            assert set(volume) & {"configMap", "secret", "persistentVolumeClaim"}, volume
            assert "hostPath" not in volume
        by_component.setdefault(job["metadata"]["labels"]["app.kubernetes.io/component"], []).append(job)

    backups = {(job["metadata"]["labels"]["backup-console/kind"], job["metadata"]["labels"]["backup-console/instance"]):
               job for job in by_component["backup"]}
    assert set(backups) == {("postgres", "main"), ("postgres", "analytics"), ("redis", "cache"), ("redis", "queue_2"),
                            ("rabbitmq", "default")}
    container = backups[("postgres", "analytics")]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][2:] == ["backup", "postgres/analytics", "--upload"]
    assert backups[("postgres", "analytics")]["spec"]["schedule"] == "30 3 * * *"
    assert backups[("postgres", "main")]["spec"]["schedule"] == "0 2 * * *"
    assert backups[("rabbitmq", "default")]["metadata"]["name"] == "backup-console-backup-rabbitmq"
    # queue_2 and queue-2 would both be ...-queue-2: the one with `_` carries a hash of its real name
    assert backups[("redis", "queue_2")]["metadata"]["name"] != "backup-console-backup-redis-queue-2"
    for component in ("verify", "retention", "monitor", "wal-status"):
        assert len(by_component[component]) == 1, component
    verify = by_component["verify"][0]["spec"]
    retention = by_component["retention"][0]["spec"]
    assert verify["schedule"] == kubernetes.VERIFY_CRON and retention["schedule"] == kubernetes.RETENTION_CRON
    assert by_component["monitor"][0]["spec"]["schedule"] == "*/5 * * * *"
    assert by_component["monitor"][0]["spec"]["startingDeadlineSeconds"] < 300
    # the header says which keys the Secret must hold for the files
    header = text.split("\n---", 1)[0]
    assert "redis-queue.pass" in header and "bc-secrets" in header


def test_json_and_defaults(make_settings, capsys):
    assert main(["schedule", "print", "--kubernetes", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    jobs = document["cronjobs"]
    assert "namespace" not in jobs[0]["metadata"] and "timeZone" not in jobs[0]["spec"]
    container = jobs[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["envFrom"] == [{"secretRef": {"name": kubernetes.DEFAULT_SECRET}}]
    names = [job["metadata"]["name"] for job in jobs]
    assert names[:5] == [f"backup-console-backup-{kind}" for kind in ("postgres", "redis", "rabbitmq", "config", "certs")]


def test_kubernetes_options_need_kubernetes(make_settings, capsys):
    assert main(["schedule", "print", "--image", "x"]) == 2
    assert "--kubernetes" in capsys.readouterr().err
    assert main(["schedule", "print", "--kubernetes", "--output-dir", "/tmp/x"]) == 2


def test_k8s_names_are_unique_and_short():
    long = "a" * 60
    name = kubernetes.resource_name("backup-postgres@" + long)
    assert len(name) <= 52 and DNS_1123.fullmatch(name)
    assert kubernetes.resource_name("backup-redis@q_2") != kubernetes.resource_name("backup-redis@q-2")
    assert kubernetes.resource_name("verify") == "backup-console-verify"


def test_every_command_of_a_cronjob_parses(fleet):
    from console.cli import build_parser
    from console.cli.targets import expand_argv
    from console.kinds.registry import KINDS

    _, settings, _ = fleet
    parser = build_parser()
    for job in kubernetes.cronjobs(settings):
        container = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
        try:
            parser.parse_args(expand_argv(container["args"], list(KINDS)))
        except SystemExit as exc:
            raise AssertionError(f"{container['args']} is not a valid command") from exc
    assert schedule.jobs(settings)  # the same jobs feed systemd, cron and Kubernetes
