"""One vocabulary for how something turned out: a pre-flight check, a checklist item, a
verification check or set, a drill step, a monitor finding.

Each document keeps the words it has always written, because scripts read them: pre-flight JSON
says ``pass``, verification reports ``passed``, drill transcripts ``ok``, monitor findings
``critical``. Those words are attributes of one member here instead of maps kept in five modules,
and :meth:`Status.of` reads any of them back as the same member, so "a verification that
warned" and "a check that warned" are one thing to the dashboard, the drill and the alerts.
"""

from __future__ import annotations

from enum import Enum


class Status(Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    """Did not apply this time (no upload, so no S3 check): passes a gate, and says SKIP."""
    RUNNING = "running"
    PENDING = "pending"
    CANCELLED = "cancelled"
    OVERRIDE = "override"
    """A failed gate a person chose to pass (drills record who and why)."""

    @classmethod
    def of(cls, word: str | Status | None) -> Status:
        """The member any face's word names (``pass``, ``passed``, ``warning``, ``critical`` ...);
        a word nobody wrote is a failure, never a pass."""
        if isinstance(word, Status):
            return word
        return _BY_WORD.get(word or "", Status.FAIL)

    @property
    def check_word(self) -> str:
        """Pre-flight JSON and the Backup screen: pass, warn, fail, skip."""
        return _WORDS[self][0]

    @property
    def report_word(self) -> str:
        """Verification reports and metadata's verification_status: passed, warning, failed, skipped."""
        return _WORDS[self][1]

    @property
    def outcome(self) -> str:
        """A drill transcript's step outcome: ok, warn, fail, skipped, cancelled, override."""
        return _WORDS[self][2]

    @property
    def severity(self) -> str:
        """A monitor finding: ok, warning, critical."""
        return _WORDS[self][3]

    @property
    def mark(self) -> str:
        """A fixed-width mark that reads without colour (NO_COLOR, transcripts): ``[ OK ]``, ``[FAIL]``."""
        return _WORDS[self][4]

    @property
    def passes(self) -> bool:
        """Whether a gate lets it through: a warning does not stop the backup runner either."""
        return self in (Status.OK, Status.WARN, Status.SKIP, Status.OVERRIDE)


#          check    report      outcome      severity    mark
_WORDS = {
    Status.OK: ("pass", "passed", "ok", "ok", "[ OK ]"),
    Status.WARN: ("warn", "warning", "warn", "warning", "[WARN]"),
    Status.FAIL: ("fail", "failed", "fail", "critical", "[FAIL]"),
    Status.SKIP: ("skip", "skipped", "skipped", "ok", "[SKIP]"),
    Status.RUNNING: ("running", "running", "running", "ok", "[ .. ]"),
    Status.PENDING: ("pending", "pending", "pending", "warning", "[    ]"),
    Status.CANCELLED: ("cancelled", "cancelled", "cancelled", "critical", "[STOP]"),
    Status.OVERRIDE: ("override", "override", "override", "warning", "[OVRD]"),
}

_BY_WORD: dict[str, Status] = {}
for _member, _words in _WORDS.items():
    for _word in (_member.value, *_words[:4]):
        _BY_WORD.setdefault(_word, _member)
_BY_WORD["critical"] = Status.FAIL
_BY_WORD["warning"] = Status.WARN
