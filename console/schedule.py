"""Schedules as systemd units or crontab lines that run the headless commands at the manual's
times: the daily backups at 02:00, then verification, then `retention apply --yes`; `wal status`
hourly; `monitor` every 5 minutes. The scheduler is systemd or cron; nothing here runs a loop.

The nightly chain is a target started by one timer: each backup is its own service (one
failing does not stop the others), verification is ordered after all of them and retention
after verification, so the newest verified set it protects is tonight's.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from console.config import Settings

UNIT_PREFIX = "backup-console"
DEFAULT_ENV_FILE = "/etc/backup-console/env"
NIGHTLY_CALENDAR = "*-*-* 02:00:00"


@dataclass(frozen=True)
class Job:
    name: str
    description: str
    commands: tuple[tuple[str, ...], ...]
    """Sub-command argv lists, run in order (without the binary)."""
    cron: str
    calendar: str | None
    """systemd OnCalendar; None for jobs started by the nightly target."""
    after: tuple[str, ...] = ()


def binary_path() -> list[str]:
    """How to run the installed console: the running binary, the venv's, PATH, or ``python -m``."""
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if argv0 is not None and argv0.name == "backup-console" and argv0.exists():
        return [str(argv0.resolve())]
    beside = Path(sys.executable).parent / "backup-console"
    if beside.exists():
        return [str(beside.absolute())]
    found = shutil.which("backup-console")
    if found:
        return [str(Path(found).absolute())]
    return [sys.executable, "-m", "console.cli"]


def _kind_available(kind: str) -> bool:
    from console.kinds.registry import KINDS

    return kind in KINDS


def jobs(settings: Settings, textfile: str | None = None) -> list[Job]:
    """The jobs of the schedule, nightly chain first."""
    upload = ("--upload",) if settings.s3.bucket else ()
    kinds = [kind for kind in settings.alerts.scheduled_kinds if _kind_available(kind)]
    backups = [Job(f"backup-{kind}", f"back up {kind}", (("backup", kind, *upload),), "0 2 * * *", None)
               for kind in kinds]
    nightly = [
        *backups,
        Job("verify", "verify the backups", (("verify",),), "0 2 * * *", None, tuple(job.name for job in backups)),
        # apply prints the plan it carries out; a separate `retention plan` step would stop the chain
        # (exit 3) when only S3 is unreachable, leaving the local disk unpruned
        Job("retention", "retention apply", (("retention", "apply", "--yes"),),
            "0 2 * * *", None, ("verify",)),
    ]
    monitor = ("monitor",) + (("--prometheus", textfile) if textfile else ())
    periodic = [Job("monitor", "check freshness, verification and space; alert", (monitor,), "*/5 * * * *", "*:0/5")]
    if "postgres" in kinds:
        periodic.insert(0, Job("wal-status", "check WAL archiving", (("wal", "status"),), "0 * * * *", "hourly"))
    return nightly + periodic


def pinned_environment(settings: Settings) -> dict[str, str]:
    """The paths the scheduled runs use, made absolute where ``schedule print`` runs.

    systemd starts services in ``/`` and cron in the user's home: a relative BACKUP_DIR
    (the default ``./backups``), CERT_DIR or config source would resolve somewhere else than it
    did for the operator. The units carry them absolute, and start in BACKUP_DIR.
    """
    pinned = {"BACKUP_DIR": str(settings.backup_dir.absolute())}
    if settings.certs.cert_dir:
        pinned["CERT_DIR"] = str(Path(settings.certs.cert_dir).expanduser().absolute())
    if settings.config_backup.source_dir:
        pinned["CONFIG_SOURCE_DIR"] = str(Path(settings.config_backup.source_dir).expanduser().absolute())
    return pinned


def _command(binary: list[str], config: Path | None, argv: tuple[str, ...]) -> list[str]:
    return [*binary, *(["--config", str(config)] if config else []), *argv]


def systemd_units(settings: Settings, env_file: str = DEFAULT_ENV_FILE, textfile: str | None = None,
                  binary: list[str] | None = None) -> dict[str, str]:
    """File name -> content of every unit (services, the nightly target and the timers)."""
    binary = binary or binary_path()
    config = settings.config_path.absolute() if settings.config_path else None
    pinned = pinned_environment(settings)
    # Environment= comes before EnvironmentFile=, whose values win: the file can still move a path.
    environment = "".join(f"Environment={shlex.quote(f'{name}={value}')}\n" for name, value in pinned.items())
    units: dict[str, str] = {}
    all_jobs = jobs(settings, textfile)
    nightly = [job for job in all_jobs if job.calendar is None]
    for job in all_jobs:
        after = " ".join(f"{UNIT_PREFIX}-{name}.service" for name in job.after)
        execs = "\n".join(f"ExecStart={shlex.join(_command(binary, config, argv))}" for argv in job.commands)
        units[f"{UNIT_PREFIX}-{job.name}.service"] = (
            f"[Unit]\nDescription=backup-console: {job.description}\n"
            f"Wants=network-online.target\nAfter=network-online.target{' ' + after if after else ''}\n\n"
            f"[Service]\nType=oneshot\nWorkingDirectory=-{pinned['BACKUP_DIR']}\n{environment}"
            f"EnvironmentFile={env_file}\n{execs}\n"
            f"Nice=10\nIOSchedulingClass=best-effort\nIOSchedulingPriority=7\n"
        )
    wants = " ".join(f"{UNIT_PREFIX}-{job.name}.service" for job in nightly)
    units[f"{UNIT_PREFIX}-nightly.target"] = (
        f"[Unit]\nDescription=backup-console: nightly backups, verification and retention\nWants={wants}\n")
    units[f"{UNIT_PREFIX}-nightly.timer"] = _timer("nightly backups at 02:00", NIGHTLY_CALENDAR,
                                                   f"{UNIT_PREFIX}-nightly.target")
    for job in all_jobs:
        if job.calendar is not None:
            units[f"{UNIT_PREFIX}-{job.name}.timer"] = _timer(job.description, job.calendar,
                                                              f"{UNIT_PREFIX}-{job.name}.service")
    return units


def _timer(description: str, calendar: str, unit: str) -> str:
    return (f"[Unit]\nDescription=backup-console timer: {description}\n\n"
            f"[Timer]\nOnCalendar={calendar}\nPersistent=true\nUnit={unit}\n\n"
            f"[Install]\nWantedBy=timers.target\n")


def crontab(settings: Settings, env_file: str = DEFAULT_ENV_FILE, textfile: str | None = None,
            binary: list[str] | None = None) -> str:
    """Crontab lines; each loads the environment file first (a missing file stops the line)."""
    binary = binary or binary_path()
    config = settings.config_path.absolute() if settings.config_path else None
    pinned = pinned_environment(settings)
    exports = " ".join(shlex.quote(f"{name}={value}") for name, value in pinned.items())
    # the pinned absolute paths first, then the environment file (which may still move them)
    load_env = (f"cd {shlex.quote(pinned['BACKUP_DIR'])} 2>/dev/null; export {exports} && "
                f"set -a && . {shlex.quote(env_file)} && set +a && ")
    lines = ["# backup-console schedule (crontab -e, or /etc/cron.d with a user column added)",
             "SHELL=/bin/sh", "PATH=/usr/local/bin:/usr/bin:/bin"]
    all_jobs = jobs(settings, textfile)
    nightly = [job for job in all_jobs if job.calendar is None]
    steps = []
    for job in nightly:
        commands = [shlex.join(_command(binary, config, argv)) for argv in job.commands]
        steps.append(" && ".join(commands))
    lines.append("# 02:00: each backup, then verification, then retention")
    lines.append(f"0 2 * * * {load_env}{' ; '.join(steps)}")
    for job in all_jobs:
        if job.calendar is None:
            continue
        commands = " && ".join(shlex.join(_command(binary, config, argv)) for argv in job.commands)
        lines.append(f"# {job.description}")
        lines.append(f"{job.cron} {load_env}{commands}")
    return "\n".join(lines) + "\n"
