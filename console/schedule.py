"""Schedules as systemd units or crontab lines that run the headless commands at the manual's
times: the daily backups at 02:00, then verification, then `retention apply --yes`; `wal status`
hourly; `monitor` every 5 minutes. The scheduler is systemd or cron; nothing here runs a loop.

The nightly chain is a target started by one timer: each backup is its own service (one
failing does not stop the others), verification is ordered after all of them and retention
after verification, so the newest verified set it protects is tonight's.
"""

from __future__ import annotations

import re
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from console.instances import DEFAULT

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


_UNIT_CHAR = re.compile(r"[A-Za-z0-9:_.-]")
_UNIT_NAME = re.compile(r"[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]*)?\.(service|timer|target)")


def unit_escape(text: str) -> str:
    """``text`` as systemd would escape it for a unit (instance) name: other bytes as ``\\xNN``.

    Instance names are already safe (lower-case letters, digits, ``-``, ``_``); this is the guard
    that keeps a unit name valid whatever a name holds.
    """
    return "".join(char if _UNIT_CHAR.fullmatch(char) else "".join(f"\\x{byte:02x}" for byte in char.encode())
                   for char in text)


def valid_unit_name(name: str) -> bool:
    """A name systemd takes for a unit file (at most 255 bytes, allowed characters, one ``@``)."""
    return len(name.encode()) <= 255 and bool(_UNIT_NAME.fullmatch(name))


def unit_name(job_name: str, suffix: str) -> str:
    """``backup-console-<job>.<suffix>``; an instance's job keeps its ``@`` (a systemd instance name)."""
    base, at, instance = job_name.partition("@")
    return f"{UNIT_PREFIX}-{base}{at}{unit_escape(instance)}.{suffix}"


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


def backup_jobs(settings: Settings) -> list[Job]:
    """One job per scheduled instance of each scheduled kind, honouring the instance's ``schedule``:
    ``nightly`` joins the 02:00 chain, ``HH:MM`` gets a timer of its own, ``off`` no job at all.

    A kind with only its ``default`` instance keeps the manual's names (``backup-postgres``,
    ``backup postgres``); otherwise each instance is named (``backup-postgres@analytics``,
    ``backup postgres/analytics``): a systemd instance name, and a command that is never ambiguous.
    """
    upload = ("--upload",) if settings.s3.bucket else ()
    found = []
    for kind in settings.alerts.scheduled_kinds:
        if not _kind_available(kind):
            continue
        instances = settings.instances_of(kind)
        alone = len(instances) == 1 and instances[0].name == DEFAULT
        for instance in instances:
            if not instance.scheduled:
                continue
            name = f"backup-{kind}" if alone else f"backup-{kind}@{instance.name}"
            target = kind if alone else f"{kind}/{instance.name}"
            cron, calendar = "0 2 * * *", None
            if instance.schedule != "nightly":
                hours, _, minutes = instance.schedule.partition(":")
                cron, calendar = f"{int(minutes)} {int(hours)} * * *", f"*-*-* {int(hours):02d}:{int(minutes):02d}:00"
            found.append(Job(name, f"back up {target}", (("backup", target, *upload),), cron, calendar))
    return found


def jobs(settings: Settings, textfile: str | None = None) -> list[Job]:
    """The jobs of the schedule, nightly chain first."""
    kinds = [kind for kind in settings.alerts.scheduled_kinds if _kind_available(kind)]
    scheduled = backup_jobs(settings)
    backups = [job for job in scheduled if job.calendar is None]
    nightly = [
        *backups,
        Job("verify", "verify the backups", (("verify",),), "0 2 * * *", None, tuple(job.name for job in backups)),
        # apply prints the plan it carries out; a separate `retention plan` step would stop the chain
        # (exit 3) when only S3 is unreachable, leaving the local disk unpruned
        Job("retention", "retention apply", (("retention", "apply", "--yes"),),
            "0 2 * * *", None, ("verify",)),
    ]
    monitor = ("monitor",) + (("--prometheus", textfile) if textfile else ())
    periodic = [job for job in scheduled if job.calendar is not None]
    periodic.append(Job("monitor", "check freshness, verification and space; alert", (monitor,), "*/5 * * * *", "*:0/5"))
    if "postgres" in kinds:
        periodic.insert(len(periodic) - 1, Job("wal-status", "check WAL archiving", (("wal", "status"),), "0 * * * *", "hourly"))
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
        after = " ".join(unit_name(name, "service") for name in job.after)
        execs = "\n".join(f"ExecStart={shlex.join(_command(binary, config, argv))}" for argv in job.commands)
        units[unit_name(job.name, "service")] = (
            f"[Unit]\nDescription=backup-console: {job.description}\n"
            f"Wants=network-online.target\nAfter=network-online.target{' ' + after if after else ''}\n\n"
            f"[Service]\nType=oneshot\nWorkingDirectory=-{pinned['BACKUP_DIR']}\n{environment}"
            f"EnvironmentFile={env_file}\n{execs}\n"
            f"Nice=10\nIOSchedulingClass=best-effort\nIOSchedulingPriority=7\n"
        )
    wants = " ".join(unit_name(job.name, "service") for job in nightly)
    units[f"{UNIT_PREFIX}-nightly.target"] = (
        f"[Unit]\nDescription=backup-console: nightly backups, verification and retention\nWants={wants}\n")
    units[f"{UNIT_PREFIX}-nightly.timer"] = _timer("nightly backups at 02:00", NIGHTLY_CALENDAR,
                                                   f"{UNIT_PREFIX}-nightly.target")
    for job in all_jobs:
        if job.calendar is not None:
            units[unit_name(job.name, "timer")] = _timer(job.description, job.calendar,
                                                         unit_name(job.name, "service"))
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
