"""The monitoring report as a node_exporter textfile (Prometheus text format 0.0.4), written
atomically so the collector never reads half a file.

Metrics (all gauges; labels kind, instance, name, where named):
  backup_console_last_success_timestamp_seconds{kind,instance,name}  newest backup's time (Unix seconds)
  backup_console_last_size_bytes{kind,instance,name}                  its total size
  backup_console_last_duration_seconds{kind,instance,name}            how long it took (when recorded)
  backup_console_verification_status{kind,instance,name,status}       1 for its verification status, else 0

``instance`` is the console's instance name (``default`` for the manual's single one). Prometheus
also calls its scrape target ``instance``: a textfile scraped without ``honor_labels`` shows ours
as ``exported_instance``.
  backup_console_free_bytes{path} / _total_bytes{path}       the disk of BACKUP_DIR
  backup_console_used_bytes{kind}                            bytes under BACKUP_DIR/<kind>
  backup_console_wal_archive_failed_count                    pg_stat_archiver.failed_count
  backup_console_postgres_recovery_window_start_timestamp_seconds{instance} / _end_  the PITR window
  backup_console_postgres_wal_archive_lag_seconds{instance}  seconds since the newest segment was archived
  backup_console_certificate_days_left{file,index}           days until expiry
  backup_console_findings{severity}                          findings by severity
  backup_console_alerting                                    1 when anything is critical
  backup_console_monitor_timestamp_seconds                   when this file was written
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from console.artifacts import write_text_atomic
from console.catalog import KINDS
from console.monitor import SEVERITIES, VERIFICATION_VALUES

if TYPE_CHECKING:
    from console.monitor import MonitorReport

_HELP = {
    "last_success_timestamp_seconds": "Time of the newest backup set of a kind/database (Unix seconds).",
    "last_size_bytes": "Total size of the newest backup set.",
    "last_duration_seconds": "How long the newest backup took.",
    "verification_status": "1 for the verification status of the newest backup set, 0 for the others.",
    "free_bytes": "Free bytes on the file system of BACKUP_DIR.",
    "total_bytes": "Size of the file system of BACKUP_DIR.",
    "used_bytes": "Bytes used by each kind under BACKUP_DIR.",
    "wal_archive_failed_count": "pg_stat_archiver.failed_count of the monitored PostgreSQL server.",
    "postgres_recovery_window_start_timestamp_seconds": "Earliest moment PostgreSQL can be restored to (Unix seconds).",
    "postgres_recovery_window_end_timestamp_seconds": "Latest archived commit PostgreSQL can be restored up to (Unix seconds).",
    "postgres_wal_archive_lag_seconds": "Seconds since the newest WAL segment reached the archive.",
    "certificate_days_left": "Days until a certificate under CERT_DIR expires.",
    "findings": "Monitoring findings by severity.",
    "alerting": "1 when any finding is critical.",
    "monitor_timestamp_seconds": "When backup-console monitor wrote this file (Unix seconds).",
}


def _escape(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _sample(name: str, labels: dict[str, Any], value: float) -> str:
    rendered = ",".join(f'{key}="{_escape(val)}"' for key, val in labels.items())
    number = repr(float(value)) if not float(value).is_integer() else str(int(value))
    return f"backup_console_{name}{{{rendered}}} {number}" if rendered else f"backup_console_{name} {number}"


def render(report: MonitorReport) -> str:
    """The report in Prometheus text format."""
    samples: dict[str, list[str]] = {name: [] for name in _HELP}
    for target in report.targets:
        labels = {"kind": target.kind, "instance": target.instance, "name": target.name}
        if target.timestamp is not None:
            samples["last_success_timestamp_seconds"].append(_sample("last_success_timestamp_seconds", labels, target.timestamp))
        if target.size_bytes is not None:
            samples["last_size_bytes"].append(_sample("last_size_bytes", labels, target.size_bytes))
        if target.duration_seconds is not None:
            samples["last_duration_seconds"].append(_sample("last_duration_seconds", labels, target.duration_seconds))
        for status in VERIFICATION_VALUES:
            samples["verification_status"].append(
                _sample("verification_status", {**labels, "status": status}, 1 if target.verification == status else 0))
    storage = report.storage
    if storage:
        path = {"path": storage.get("path", "")}
        samples["free_bytes"].append(_sample("free_bytes", path, storage.get("free_bytes", 0)))
        samples["total_bytes"].append(_sample("total_bytes", path, storage.get("total_bytes", 0)))
        for kind in KINDS:
            if f"{kind}_bytes" in storage:
                samples["used_bytes"].append(_sample("used_bytes", {"kind": kind}, storage[f"{kind}_bytes"]))
    if report.wal.get("archive_failed_count") is not None:
        samples["wal_archive_failed_count"].append(_sample("wal_archive_failed_count", {}, report.wal["archive_failed_count"]))
    for instance, wal in sorted(report.wal_instances.items()):
        window = wal.get("recovery_window") or {}
        for name, key in (("postgres_recovery_window_start_timestamp_seconds", "start_timestamp"),
                          ("postgres_recovery_window_end_timestamp_seconds", "end_timestamp"),
                          ("postgres_wal_archive_lag_seconds", "archive_lag_seconds")):
            if window.get(key) is not None:
                samples[name].append(_sample(name, {"instance": instance}, round(window[key], 3)))
    for cert in report.certificates:
        samples["certificate_days_left"].append(
            _sample("certificate_days_left", {"file": cert["file"], "index": cert["index"]}, cert["days_left"]))
    for severity in SEVERITIES:
        count = sum(1 for finding in report.findings if finding.severity == severity)
        samples["findings"].append(_sample("findings", {"severity": severity}, count))
    samples["alerting"].append(_sample("alerting", {}, 1 if report.alerting else 0))
    samples["monitor_timestamp_seconds"].append(_sample("monitor_timestamp_seconds", {}, round(report.generated_at, 3)))
    lines: list[str] = []
    for name, rows in samples.items():
        if not rows:
            continue
        lines += [f"# HELP backup_console_{name} {_HELP[name]}", f"# TYPE backup_console_{name} gauge", *rows]
    return "\n".join(lines) + "\n"


def write_textfile(path: Path, report: MonitorReport) -> None:
    """Write atomically: a temporary file in the same directory, fsync, rename."""
    write_text_atomic(path, render(report), mode=0o644)


def metric_names() -> Iterable[str]:
    return (f"backup_console_{name}" for name in _HELP)
