"""Recovery targets from the command line: a time (ISO 8601 with Z, an offset, or local time), an
LSN, or the name of a restore point; and how each is written for PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from console.errors import UsageError
from console.pitr.walnames import format_lsn, parse_lsn


@dataclass(frozen=True)
class Target:
    kind: str
    """"time", "lsn" or "name"."""
    text: str
    """As the operator typed it."""
    time: datetime | None = None
    lsn: int | None = None
    name: str | None = None

    def setting(self) -> tuple[str, str]:
        """The recovery_target_* parameter and its value.

        PostgreSQL's recovery_target_time rejects a trailing ``Z``, so times are written in UTC
        with an explicit ``+00`` offset.
        """
        if self.kind == "time":
            assert self.time is not None
            return "recovery_target_time", self.time.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f+00")
        if self.kind == "lsn":
            assert self.lsn is not None
            return "recovery_target_lsn", format_lsn(self.lsn)
        assert self.name is not None
        return "recovery_target_name", self.name

    def describe(self) -> str:
        if self.kind == "time":
            assert self.time is not None
            return f"time {self.time.astimezone(timezone.utc).isoformat()}"
        return f"{self.kind} {self.text}"

    def as_json(self) -> dict[str, str]:
        key, value = self.setting()
        return {"kind": self.kind, "given": self.text, key: value}


def parse_time(text: str) -> datetime:
    """ISO 8601 with ``Z`` or an offset, or a local time; always returned aware."""
    cleaned = text.strip()
    try:
        value = datetime.fromisoformat(cleaned)
    except ValueError:
        raise UsageError(f"--target-time {text!r} is not an ISO 8601 time "
                         "(e.g. 2026-12-07T01:40:00Z, 2026-12-07 02:40:00+01:00 or local 2026-12-07 01:40)") from None
    return value if value.tzinfo is not None else value.astimezone()


def parse_target(time_text: str | None = None, lsn_text: str | None = None, name: str | None = None) -> Target:
    """Exactly one target; none at all is refused (it must never silently mean "latest")."""
    given = [value for value in (time_text, lsn_text, name) if value is not None]
    if len(given) != 1:
        raise UsageError("give exactly one of --target-time, --target-lsn, --target-name "
                         "(a restore to the end of the archive is not a point-in-time restore)")
    if time_text is not None:
        return Target("time", time_text, time=parse_time(time_text))
    if lsn_text is not None:
        try:
            return Target("lsn", lsn_text, lsn=parse_lsn(lsn_text))
        except ValueError as exc:
            raise UsageError(f"--target-lsn: {exc}") from None
    assert name is not None
    if not name.strip() or len(name) > 63:
        raise UsageError("--target-name must be 1 to 63 characters (a pg_create_restore_point name)")
    return Target("name", name, name=name)
