"""The schedule as Kubernetes CronJobs (``schedule print --kubernetes``): the same jobs as the
systemd units and crontab lines (``console.schedule.jobs``), one CronJob each.

- One CronJob per scheduled instance and kind (``backup postgres/analytics``), at 02:00 or at the
  instance's own ``HH:MM``; then ``verify`` at 04:00 and ``retention apply --yes`` at 05:00 (a
  cluster has no ordering between CronJobs, so the chain becomes times), ``monitor`` every 5
  minutes and ``wal status`` hourly when PostgreSQL is scheduled.
- ``concurrencyPolicy: Forbid`` (two runs of one job never overlap, as the lock says anyway), a
  ``startingDeadlineSeconds`` (a run missed by a controller outage starts late rather than never,
  but not an hour late for a 5-minute monitor), a ``backoffLimit`` and ``restartPolicy: Never``
  (every attempt keeps its pod and its log).
- Credentials only by reference: ``envFrom: secretRef`` (the Secret holds the environment file's
  ``KEY=value`` pairs: POSTGRES_PASSWORD, AWS_ACCESS_KEY_ID, ...), and every file secret the
  settings name (an instance's ``password_file``, ``encryption.key_file``) mounted from a key of
  the same Secret at the configured path. No value ever appears in the manifests.
- The config file from a ConfigMap (key ``config.yaml``) mounted read-only at CONFIG_PATH, and
  ``--config`` pointing at it; BACKUP_DIR on a PersistentVolumeClaim shared by the jobs (verify
  and retention read what the backups wrote).

Plain dictionaries: ``manifests_yaml`` dumps them with pyyaml, one document per CronJob.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from console import __version__
from console.config import SECTION_OF_KIND
from console.schedule import Job, jobs

if TYPE_CHECKING:
    from console.config import Settings

CONFIG_PATH = "/etc/backup-console/config.yaml"
CONFIG_KEY = "config.yaml"
DATA_DIR = "/var/lib/backup-console"
DEFAULT_IMAGE = f"backup-console:{__version__}"
DEFAULT_CONFIG_MAP = "backup-console-config"
DEFAULT_SECRET = "backup-console-env"
DEFAULT_VOLUME_CLAIM = "backup-console-backups"
VERIFY_CRON = "0 4 * * *"
RETENTION_CRON = "0 5 * * *"
NAME_LIMIT = 52
"""A CronJob's name: the Job controller appends 11 characters and a Job name is at most 63."""

_DEADLINES = {"monitor": 240, "wal-status": 1800}
"""startingDeadlineSeconds by job; the daily jobs may start up to an hour late."""
_ACTIVE_DEADLINES = {"monitor": 240, "wal-status": 600}
"""activeDeadlineSeconds by job; a daily job may run 12 hours (a hung one would block the next: Forbid)."""
_SECRET_KEY_UNSAFE = re.compile(r"[^-._a-zA-Z0-9]")
_NAME_UNSAFE = re.compile(r"[^a-z0-9-]")


def resource_name(job_name: str) -> str:
    """``backup-console-<job>`` as a DNS-1123 name of at most NAME_LIMIT characters.

    ``@`` becomes ``-``; a name that had to change otherwise (``_`` -> ``-``) or be cut keeps a short
    hash of the original, so ``redis@q_2`` and ``redis@q-2`` never share a CronJob.
    """
    wanted = f"backup-console-{job_name.replace('@', '-')}"
    name = _NAME_UNSAFE.sub("-", wanted.lower()).strip("-")
    if name != wanted or len(name) > NAME_LIMIT:
        digest = hashlib.sha256(job_name.encode()).hexdigest()[:6]
        name = f"{name[:NAME_LIMIT - 7].rstrip('-')}-{digest}"
    return name


def secret_files(settings: Settings) -> dict[str, str]:
    """Configured path -> the Secret key that holds it: every instance's ``password_file`` and
    ``encryption.key_file`` (the config is loaded in the pod, which reads them all)."""
    paths: list[str] = []
    for kind, section in SECTION_OF_KIND.items():
        candidates = [getattr(settings, section, None)]
        candidates += [instance.section for instance in settings.instances_of(kind)]
        for value in candidates:
            path = getattr(value, "password_file", "") if value is not None else ""
            if path:
                paths.append(path)
    if settings.encryption.key_file:
        paths.append(settings.encryption.key_file)
    found: dict[str, str] = {}
    used: set[str] = set()
    for path in paths:
        absolute = str(Path(path).expanduser())
        if absolute in found:
            continue
        key = _SECRET_KEY_UNSAFE.sub("-", Path(absolute).name) or "secret"
        base, number = key, 2
        while key in used:
            key, number = f"{base}-{number}", number + 1
        used.add(key)
        found[absolute] = key
    return found


def _component(job: Job) -> str:
    return "backup" if job.name.startswith("backup-") else job.name


def _schedule(job: Job) -> str:
    return {"verify": VERIFY_CRON, "retention": RETENTION_CRON}.get(job.name, job.cron)


def _cronjob(job: Job, settings: Settings, image: str, config_map: str, secret: str, namespace: str | None,
             volume_claim: str, time_zone: str | None, files: dict[str, str]) -> dict[str, Any]:
    component = _component(job)
    labels = {"app.kubernetes.io/name": "backup-console", "app.kubernetes.io/component": component}
    if component == "backup":
        kind, _, instance = job.name.removeprefix("backup-").partition("@")
        labels["backup-console/kind"] = kind
        labels["backup-console/instance"] = instance or settings.instances_of(kind)[0].name
    if len(job.commands) != 1:
        raise ValueError(f"{job.name}: a container runs one command, the job has {len(job.commands)}")
    argv = job.commands[0]
    mounts: list[dict[str, Any]] = [
        {"name": "config", "mountPath": CONFIG_PATH, "subPath": CONFIG_KEY, "readOnly": True},
        {"name": "backups", "mountPath": DATA_DIR},
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": config_map, "items": [{"key": CONFIG_KEY, "path": CONFIG_KEY}]}},
        {"name": "backups", "persistentVolumeClaim": {"claimName": volume_claim}},
    ]
    if files:
        mounts += [{"name": "secret-files", "mountPath": path, "subPath": key, "readOnly": True}
                   for path, key in files.items()]
        volumes.append({"name": "secret-files", "secret": {
            "secretName": secret, "defaultMode": 0o400, "items": [{"key": key, "path": key} for key in files.values()]}})
    container = {
        "name": "backup-console",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["backup-console"],
        "args": ["--config", CONFIG_PATH, *argv],
        "env": [{"name": "BACKUP_DIR", "value": DATA_DIR}],
        "envFrom": [{"secretRef": {"name": secret}}],
        "volumeMounts": mounts,
    }
    metadata: dict[str, Any] = {"name": resource_name(job.name), "labels": labels}
    if namespace:
        metadata["namespace"] = namespace
    spec: dict[str, Any] = {
        "schedule": _schedule(job),
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": _DEADLINES.get(job.name, 3600),
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 5,
        "jobTemplate": {
            "metadata": {"labels": dict(labels)},
            "spec": {
                "backoffLimit": 1 if component == "backup" else 0,
                "activeDeadlineSeconds": _ACTIVE_DEADLINES.get(job.name, 12 * 3600),
                "template": {
                    "metadata": {"labels": dict(labels)},
                    "spec": {"restartPolicy": "Never", "containers": [container], "volumes": volumes},
                },
            },
        },
    }
    if time_zone:
        spec = {"timeZone": time_zone, **spec}
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": metadata, "spec": spec}


def cronjobs(settings: Settings, image: str = DEFAULT_IMAGE, config_map: str = DEFAULT_CONFIG_MAP,
             secret: str = DEFAULT_SECRET, namespace: str | None = None, volume_claim: str = DEFAULT_VOLUME_CLAIM,
             time_zone: str | None = None) -> list[dict[str, Any]]:
    """One CronJob per job of the schedule, backups first."""
    files = secret_files(settings)
    return [_cronjob(job, settings, image, config_map, secret, namespace, volume_claim, time_zone, files)
            for job in jobs(settings)]


def manifests_yaml(settings: Settings, **options: Any) -> str:
    """The CronJobs as one multi-document YAML text, after a comment saying what they expect."""
    found = cronjobs(settings, **options)
    secret = options.get("secret", DEFAULT_SECRET)
    config_map = options.get("config_map", DEFAULT_CONFIG_MAP)
    claim = options.get("volume_claim", DEFAULT_VOLUME_CLAIM)
    header = [
        "# backup-console schedule as Kubernetes CronJobs (kubectl apply -f this file). They expect:",
        f"#  - ConfigMap {config_map} with the config file under the key {CONFIG_KEY}",
        f"#  - Secret {secret} with the environment file's KEY=value pairs (POSTGRES_PASSWORD, REDIS_PASSWORD,",
        "#    RABBITMQ_PASSWORD, BACKUP_ENCRYPTION_KEY, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ...)",
    ]
    for path, key in secret_files(settings).items():
        header.append(f"#    and the key {key} holding the file {path}")
    header.append(f"#  - PersistentVolumeClaim {claim} for BACKUP_DIR ({DATA_DIR}), shared by every job")
    body = yaml.safe_dump_all(found, sort_keys=False, default_flow_style=False, explicit_start=True, width=1000)
    return "\n".join(header) + "\n" + body
