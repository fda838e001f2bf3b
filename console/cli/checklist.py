"""``backup-console checklist [SERVICE]``: run a pre-backup checklist's automated items headless.

Exit codes: 0 when every required item passes (OK or WARN); 1 when a required automated item
fails or cannot run, or when the list has a required manual item (no person can tick it here:
it is listed as "needs a person"); 2 for a bad checklist file or an unknown service.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from console.errors import ExitCode

if TYPE_CHECKING:
    from console.checklists import Checklist, ItemResult
    from console.cli.output import Printer
    from console.config import Settings

DESCRIPTION = (
    "Run the automated items of a pre-backup checklist (the procedures manual's lists, plus the "
    "operator's own from checklists.dir) and print each with its state and evidence. Manual items are "
    "listed as \"needs a person\": tick them in the console (`backup-console`, then the checklist screen). "
    "Without SERVICE, list the checklists. Exit 0 when every required item passes, 1 when a required "
    "item fails or needs a person, 2 on a bad checklist file."
)


@dataclass(frozen=True)
class ChecklistOptions:
    service: str | None
    target: str | None
    upload: bool
    json: bool


def register(subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("checklist", parents=parents, help="run a pre-backup checklist headless",
                                   description=DESCRIPTION)
    parser.add_argument("service", nargs="?", metavar="SERVICE",
                        help="postgres, redis, rabbitmq, config, certs, or an operator's own list")
    parser.add_argument("--db", dest="target", metavar="NAME", help="the database the checks look at (PostgreSQL)")
    parser.add_argument("--upload", action="store_true", help="include S3 connectivity (skipped otherwise)")
    parser.set_defaults(handler=lambda args, settings, printer: run_checklist(
        ChecklistOptions(args.service, args.target, args.upload, args.json), settings, printer))


def run_checklist(options: ChecklistOptions, settings: Settings, printer: Printer) -> int:
    from console.checklists import evaluate, get_checklist, load_checklists

    checklists = load_checklists(settings)
    if options.service is None:
        return _list(checklists, options, printer)
    checklist = get_checklist(checklists, options.service)
    results = evaluate(checklist, settings, options.target, options.upload)
    document = checklist_document(checklist, results)
    if options.json:
        printer.data(document)
    else:
        _print(checklist, document, printer)
    return ExitCode.OK if document["passed"] else ExitCode.FAILED


def checklist_document(checklist: Checklist, results: list[ItemResult]) -> dict[str, Any]:
    """What ``--json`` prints: every item with state and evidence, and whether the list passed."""
    by_id = {result.item_id: result for result in results}
    items = []
    for item in checklist.items:
        result = by_id[item.id]
        items.append({
            "id": item.id, "title": item.title, "required": item.required, "manual": item.manual,
            "check": item.check, "state": "needs_person" if item.manual else result.state.value,
            "mark": result.state.mark, "evidence": result.evidence, "why": item.why, "on_fail": item.on_fail,
            **({"details": dict(result.check.details), "duration_ms": round(result.check.duration_ms, 1)}
               if result.check else {}),
        })
    failing = [entry["id"] for entry in items if entry["required"] and not entry["manual"]
               and entry["state"] not in ("ok", "warn", "skip")]
    needs_person = [entry["id"] for entry in items if entry["required"] and entry["manual"]]
    return {"service": checklist.service, "title": checklist.title, "items": items,
            "failing": failing, "needs_person": needs_person, "passed": not failing and not needs_person}


def _print(checklist: Checklist, document: dict[str, Any], printer: Printer) -> None:
    printer.line(checklist.title)
    for entry in document["items"]:
        required = "" if entry["required"] else " (optional)"
        printer.line(f"{entry['mark']} {entry['title']}{required}")
        if entry["manual"]:
            printer.line("       needs a person (manual item)")
        else:
            printer.line(f"       {entry['evidence']}")
            if entry["state"] == "fail" and entry["on_fail"]:
                printer.info(f"{entry['id']}: what to do: {entry['on_fail']}")
    if document["passed"]:
        printer.line("result: every required item passes")
    else:
        parts = []
        if document["failing"]:
            parts.append(f"failing: {', '.join(document['failing'])}")
        if document["needs_person"]:
            parts.append(f"needs a person: {', '.join(document['needs_person'])}")
        printer.line(f"result: not passed ({'; '.join(parts)})")


def _list(checklists: dict[str, Checklist], options: ChecklistOptions, printer: Printer) -> int:
    rows = [{"service": c.service, "title": c.title, "items": len(c.items),
             "manual": sum(item.manual for item in c.items), "backup": c.backup} for c in checklists.values()]
    if options.json:
        printer.data({"checklists": rows})
    else:
        printer.table(["service", "items", "manual", "title"],
                      [[row["service"], row["items"], row["manual"], row["title"]] for row in rows])
    return ExitCode.OK
