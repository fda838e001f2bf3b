"""The one key vocabulary: each verb has one key on every screen, and every screen's BINDINGS use it.

A verb means the same everywhere: `r` runs the checks, probes or reading again wherever there is
something to refresh; `b` is backup (open the Backup screen, or start the backup where one is
picked); `x` stops what runs (a backup, a database backend). README's key table is VERBS.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Verb:
    key: str
    """Textual key names, comma-separated when there are two (``question_mark,f1``)."""
    label: str
    """The footer word when a screen does not say it more precisely."""
    meaning: str
    """What the verb does on any screen (README's key table)."""


VERBS: dict[str, Verb] = {
    "quit": Verb("q", "Quit", "leave the console (asks first when a backup or a drill runs)"),
    "help": Verb("question_mark,f1", "Help", "this screen's keys first, then its help text"),
    "back": Verb("escape", "Back", "back to the previous screen, close a dialog"),
    "open": Verb("enter", "Open", "open what is highlighted: details, a report, a set, every line of a panel"),
    "refresh": Verb("r", "Refresh", "run the probes, checks or reading again"),
    "pause": Verb("p", "Pause", "pause or resume the periodic refresh"),
    "backup": Verb("b", "Backup", "open the Backup screen; where a target is picked, start its backup"),
    "cancel": Verb("x", "Cancel", "stop what runs: a backup (asks first), a database backend"),
    "override": Verb("o", "Override", "start although a check fails, with a reason that is recorded"),
    "checklist": Verb("c", "Checklist", "open the pre-backup checklists"),
    "verify": Verb("v", "Verify", "open the verification reports; there, verify every set now"),
    "deep-verify": Verb("V", "Deep verify", "verify with a restore into a scratch target"),
    "retention": Verb("t", "Retention", "open retention: what is kept, what the plan removes"),
    "pitr": Verb("m", "PITR", "open point-in-time recovery: the recovery window, restore to a moment"),
    "drill": Verb("d", "Drill", "open the newest drill's transcript (every drill from there)"),
    "fleet": Verb("f", "Fleet", "open the fleet view: every backup host's targets from the bucket, stale ones named"),
    "apply": Verb("a", "Apply", "carry the retention plan out (typed confirmation)"),
    "restore": Verb("ctrl+r", "Restore", "restore to the checked target (a control key: it writes a new cluster)"),
    "tick": Verb("space", "Tick", "tick or untick a manual checklist item"),
    "note": Verb("n", "Note", "attach a note to the highlighted item"),
    "upload": Verb("u", "Upload", "also copy the backup to S3"),
    "next-driver": Verb("w", "Driver", "pass the keyboard to the next drill participant"),
    "end-drill": Verb("e", "End", "end the drill and write its transcript"),
    "filter": Verb("slash", "Filter", "filter the instances by name, kind or tag (enter keeps it, esc clears it)"),
    "context": Verb("colon", "Context", "focus on one tag value, kind or instance (esc leaves it)"),
}


def key(verb: str) -> str:
    return VERBS[verb].key


def bind(verb: str, action: str, label: str | None = None, *, id: str | None = None, show: bool = True,
         tooltip: str = "", priority: bool = False) -> Binding:
    """The binding of ``verb`` on a screen: the verb's key, the screen's action and footer word."""
    spec = VERBS[verb]
    return Binding(spec.key, action, label or spec.label, id=id or verb, show=show, tooltip=tooltip or spec.meaning,
                   priority=priority)


def key_table() -> list[tuple[str, str, str]]:
    """(keys as typed, verb, meaning) for README and the help screen."""
    shown = {"question_mark": "?", "escape": "esc", "enter": "enter", "space": "space", "slash": "/", "colon": ":"}
    rows = []
    for name, spec in VERBS.items():
        typed = " / ".join(shown.get(part, part) for part in spec.key.split(","))
        rows.append((typed, name, spec.meaning))
    return rows
