"""``backup-console drill``: run an incident drill in the console, list past drills, show one.

``drill [--service S] [--name NAME] [--participants "a,b"]`` opens the interactive console in
drill mode; ``drill list`` and ``drill show ID`` read BACKUP_DIR/drills/ headless.
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import TYPE_CHECKING

from console.cli.tui import launch
from console.drill import (clock_time, drill_result, duration_text, interrupt_open_drills, list_drills, read_drill,
                           render_markdown)
from console.errors import ExitCode

if TYPE_CHECKING:
    from console.cli.output import Printer
    from console.config import Settings

DESCRIPTION = (
    "Run an incident drill: a visible timer, the pre-backup checklist(s), then optionally the backup and "
    "a verification. Every step is stamped (start, end, duration, outcome, evidence, who) and written as it "
    "happens to BACKUP_DIR/drills/drill_<ts>.json and a Markdown transcript drill_<ts>.md; a drill cut short "
    "(terminal closed, quitting, SIGTERM) leaves a transcript marked incomplete. "
    "`drill list` lists past drills, `drill show ID` shows one."
)


def register(subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("drill", parents=parents, help="run an incident drill; list or show past drills",
                                   description=DESCRIPTION)
    parser.add_argument("--service", action="append", metavar="S",
                        help="checklist(s) to walk (repeatable); default: every checklist")
    parser.add_argument("--name", default="", help="what the drill is called in the transcript")
    parser.add_argument("--participants", default="", metavar='"a,b"',
                        help="who takes part, comma-separated (the first drives); default: $USER")
    parser.set_defaults(handler=run_drill_cli)
    actions = parser.add_subparsers(dest="drill_command", metavar="ACTION")
    list_parser = actions.add_parser("list", parents=parents, help="list past drills (newest first)",
                                     description="List past drills: date, name, duration, result. Exit 0.")
    list_parser.set_defaults(handler=run_drill_list)
    show_parser = actions.add_parser("show", parents=parents, help="show one drill",
                                     description="Show a drill by id (drill_<ts>), timestamp or 'latest'. "
                                                 "Exit 0, or 2 when there is no such drill.")
    show_parser.add_argument("id", metavar="ID")
    show_parser.add_argument("--markdown", action="store_true", help="print the Markdown transcript")
    show_parser.set_defaults(handler=run_drill_show)


def run_drill_cli(args: argparse.Namespace, settings: Settings, printer: Printer) -> int:
    """Open the console in drill mode; whatever ends it, the drill's transcript is stamped."""
    from console.checklists import get_checklist, load_checklists

    checklists = load_checklists(settings)  # a bad checklist file is exit 2 before the screen opens
    services = args.service or list(checklists)
    for service in services:
        get_checklist(checklists, service)
    participants = [who.strip() for who in args.participants.split(",") if who.strip()]

    try:
        return launch(settings, "drill", services=services, drill_name=args.name, participants=participants)
    finally:
        interrupt_open_drills("the console closed before the drill was ended")


def run_drill_list(args: argparse.Namespace, settings: Settings, printer: Printer) -> int:

    drills = list_drills(settings.backup_dir)
    if args.json:
        printer.data({"drills": [summary.as_json() for summary in drills]})
    elif not drills:
        printer.line(f"no drills under {settings.root.drills}")
    else:
        printer.table(["id", "date", "duration", "result", "name"],
                      [[s.id, dt.datetime.fromtimestamp(s.started).strftime("%Y-%m-%d %H:%M"),
                        duration_text(s.duration_seconds), s.result.upper(), s.name] for s in drills])
    return ExitCode.OK


def run_drill_show(args: argparse.Namespace, settings: Settings, printer: Printer) -> int:
    document = read_drill(settings.backup_dir, args.id)
    if args.json:
        printer.data(document)
    elif args.markdown:
        printer.line(render_markdown(document).rstrip("\n"))
    else:
        printer.line(f"{document['id']}  {document['name']}  {drill_result(document).upper()}  "
                     f"started {document['started_at']}  duration {duration_text(document.get('duration_seconds'))}  "
                     f"participants: {', '.join(document['participants'])}")
        if document.get("interrupted_by"):
            printer.line(f"interrupted: {document['interrupted_by']}")
        printer.table(["#", "start", "duration", "outcome", "who", "step", "evidence"],
                      [[n, clock_time(step["started"]), duration_text(step.get("duration_seconds")),
                        (step.get("outcome") or "running").upper(), step["who"], step["name"], step["evidence"]]
                       for n, step in enumerate(document["steps"], 1)])
        for note in document.get("notes", []):
            printer.line(f"note {clock_time(note['at'])} {note['who']}: {note['text']}")
    return ExitCode.OK
