"""``backup-console retention plan|apply|lifecycle|policy``: retention of local and offsite sets,
and of old verification reports.

``plan`` only reads. ``apply`` plans again, needs --yes and is refused in read-only mode.
``lifecycle`` shows the bucket's lifecycle configuration against the policy; ``--apply --yes``
replaces backup-console's rules (rules of other owners in the bucket are kept).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from console.errors import ConfirmationRequired, ExitCode, ReadOnlyRefused, UsageError
from console.formatting import size
from console.instances import DEFAULT

if TYPE_CHECKING:
    from console.cli.output import Printer
    from console.config import Settings
    from console.retention.apply import RetentionPlans
    from console.retention.pitr import PitrPlan
    from console.retention.plan import Decision
    from console.retention.reports import ReportPlan

_EXIT = "Exit 0 ok, 1 failed, 2 usage/config error (also: refused in read-only mode, --yes missing), 3 partial, 11 locked."


def register(subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "retention", help="plan and apply retention of local and offsite backups; S3 lifecycle",
        description="Keep backups for as long as the retention policy (config/retention.yaml) says, and no "
                    "longer. Works on whole sets; never deletes the newest verified set of a kind/database, "
                    "keeps at least retention.min_keep sets each, never touches unrecognised files. Also removes "
                    "verification reports older than retention.report_days (the newest report, and the newest "
                    "per kind, are kept), PostgreSQL base backups past the postgres rule (postgres-base when the "
                    "policy has one) and the archived WAL no kept base backup needs (every file from the oldest "
                    "kept base backup's start on is kept, on every timeline, and every .history file). " + _EXIT,
    )
    verbs = parser.add_subparsers(dest="retention_verb", metavar="ACTION", required=True)
    plan = verbs.add_parser("plan", parents=parents,
                            help="show which sets and reports would be kept, removed and transitioned, and why")
    apply = verbs.add_parser("apply", parents=parents, help="carry the plan out (needs --yes; refused in read-only mode)")
    for sub in (plan, apply):
        sub.add_argument("--local-only", action="store_true", help="leave the S3 bucket out")
        sub.add_argument("--allow-delete-all", action="store_true",
                         help="unsafe: allow a plan that removes every backup of a kind/database")
    apply.add_argument("--yes", action="store_true", help="confirm the deletion shown by the plan")
    apply.add_argument("--dry-run", action="store_true", help="go through the motions, delete nothing")
    plan.set_defaults(handler=run_plan_cli)
    apply.set_defaults(handler=run_apply_cli)
    lifecycle = verbs.add_parser("lifecycle", parents=parents,
                                 help="compare (or --apply --yes) the bucket lifecycle rules generated from the policy")
    lifecycle.add_argument("--apply", action="store_true", help="write the generated rules to the bucket")
    lifecycle.add_argument("--yes", action="store_true", help="confirm --apply")
    lifecycle.set_defaults(handler=run_lifecycle_cli)
    policy = verbs.add_parser("policy", parents=parents, help="show the effective policy and where each value comes from")
    policy.set_defaults(handler=run_policy_cli)


def run_plan_cli(args: argparse.Namespace, settings: Settings, printer: Printer) -> int:
    from console.retention.apply import plan_retention

    plans = plan_retention(settings, offsite=not args.local_only, allow_delete_all=args.allow_delete_all)
    if args.json:
        printer.data(plans.as_json())
    else:
        print_plans(plans, settings, printer)
    return _offsite_outcome(plans, printer)


def _offsite_outcome(plans: RetentionPlans, printer: Printer) -> int:
    """A bucket that cannot be listed must not pass for a pruned one: cron sees exit 3."""
    if not plans.offsite_unplanned:
        return ExitCode.OK
    printer.info(f"offsite not planned: {plans.offsite_status} (local only; --local-only says so on purpose)")
    return ExitCode.PARTIAL


def run_apply_cli(args: argparse.Namespace, settings: Settings, printer: Printer) -> int:
    from console.retention.apply import apply_retention, plan_retention

    if settings.read_only and not args.dry_run:
        raise ReadOnlyRefused("retention apply")
    if not args.yes and not args.dry_run:
        plans = plan_retention(settings, offsite=not args.local_only, allow_delete_all=args.allow_delete_all)
        if plans.nothing_to_remove:  # nothing to confirm: not an error
            if args.json:
                printer.data({**plans.as_json(), "nothing_to_do": True})
            else:
                print_plans(plans, settings, printer)
                printer.line("nothing to delete: every set, base backup, WAL file and report is kept by the policy")
            return ExitCode.OK
        if not args.json:
            print_plans(plans, settings, printer)
        raise ConfirmationRequired(f"retention apply would remove {_counted(plans)}; nothing was deleted",
                                   hint="run `backup-console retention apply --yes` to delete them")
    plans, result = apply_retention(settings, dry_run=args.dry_run, offsite=not args.local_only,
                                    allow_delete_all=args.allow_delete_all)
    if args.json:
        printer.data({**plans.as_json(), "result": result.as_json()})
    else:
        print_plans(plans, settings, printer)
        verb = "would remove" if result.dry_run else "removed"
        pitr = (f", {len(result.deleted_bases)} base backup(s), {result.deleted_wal_files} WAL file(s)"
                if plans.pitr is not None else "")
        printer.line(f"{verb} {len(result.deleted)} set(s){pitr} and {len(result.deleted_reports)} report(s), "
                     f"{size(result.freed_bytes)} freed")
        for error in result.errors:
            printer.info(f"  error: {error}")
    if result.errors:
        anything = result.deleted or result.deleted_reports or result.deleted_bases or result.deleted_wal_files
        return ExitCode.PARTIAL if anything else ExitCode.FAILED
    return _offsite_outcome(plans, printer)


def _counted(plans: RetentionPlans) -> str:
    """``3 set(s), 1 base backup(s), 147 WAL file(s) and 2 report(s)`` (the PITR part once it exists)."""
    pitr = (f", {len(plans.base_removals)} base backup(s), {plans.wal_files_to_remove} WAL file(s)"
            if plans.pitr is not None else "")
    return f"{len(plans.removals)} set(s){pitr} and {len(plans.report_removals)} report(s)"


def print_plans(plans: RetentionPlans, settings: Settings, printer: Printer) -> None:
    from console.offsite.keys import bucket_prefix

    printer.line(f"policy: {plans.policy.source} (min_keep {plans.policy.min_keep})")
    for note in plans.policy.notes:
        printer.line(f"  {note}")
    sections = [(f"local: {settings.backup_dir}", plans.local)]
    bucket = f"s3://{settings.s3.bucket}/{bucket_prefix(settings)}" if settings.s3.bucket else "s3"
    if plans.offsite is not None:
        sections.append((f"offsite: {bucket}", plans.offsite))
    for title, plan in sections:
        printer.line()
        printer.line(title)
        rows = [_row("REMOVE", item.set_id, item, f"{item.rule}: {item.reasons[0]}") for item in plan.remove]
        rows += [_row("keep", item.set_id, item, ", ".join(item.reasons)) for item in plan.keep]
        rows += [_row("transition", item.set_id, item, item.reasons[0]) for item in plan.transition]
        if rows:
            printer.table(["action", "set", "age", "size", "why"], rows)
        else:
            printer.line("  no backup sets")
        printer.line(f"  remove {len(plan.remove)} set(s), {size(plan.freed_bytes)} freed; keep {len(plan.keep)}")
        for note in plan.notes:
            if note not in plans.policy.notes:
                printer.line(f"  note: {note}")
    if plans.offsite is None:
        printer.line()
        printer.line(f"offsite: {plans.offsite_status}")
    for pitr in plans.pitr_plans:
        print_pitr(pitr, printer)
    if plans.reports is not None:
        print_reports(plans.reports, printer)
    if plans.unrecognised:
        printer.line()
        printer.line(f"{len(plans.unrecognised)} unrecognised file(s) left alone, e.g. {plans.unrecognised[0]}")


def _row(action: str, label: str, item: Decision, why: str) -> list[str]:
    """One line of a plan table: sets and reports read the same way."""
    return [action, label, f"{item.age_days:.1f} d", size(item.size_bytes), why]


def print_pitr(plan: PitrPlan, printer: Printer) -> None:
    """Base backups like sets; the WAL archive as ranges removed and one line for what is kept."""
    printer.line()
    wal = plan.wal
    where = f", WAL archive {wal.archive_dir}" if wal is not None else ""
    whose = "" if plan.instance == DEFAULT else f" of postgres/{plan.instance}"
    printer.line(f"point-in-time recovery{whose}: base backups in {plan.base_dir}{where} (rule {plan.rule})")
    rows = [_row("REMOVE", item.set_id, item, f"{item.rule}: {item.reasons[0]}") for item in plan.remove]
    rows += [_row("keep", item.set_id, item, ", ".join(item.reasons)) for item in plan.keep]
    rows += [_row("REMOVE", f"WAL {item.subject.label}", item, f"{item.rule}: {item.reasons[0]}")
             for item in plan.wal_remove]
    if rows:
        printer.table(["action", "set", "age", "size", "why"], rows)
    if wal is not None and wal.protected_by is not None:
        printer.line(f"  keep {wal.keep_files} WAL file(s) ({size(wal.keep_bytes)}) from {wal.oldest_needed} on "
                     f"(the start of {wal.protected_by.set_id}, the oldest kept base backup), on every timeline; "
                     f"{wal.history_files} timeline history file(s) always kept")
    printer.line(f"  remove {len(plan.remove)} base backup(s) and {plan.wal_files_to_remove} WAL file(s) in "
                 f"{len(plan.wal_remove)} range(s), {size(plan.freed_bytes)} freed; keep {len(plan.keep)} base backup(s)")
    for note in plan.notes:
        printer.line(f"  note: {note}")


def print_reports(plan: ReportPlan, printer: Printer) -> None:
    """Removals and the reports kept past their age; the many kept for their age only are counted."""
    from console.retention.policy import days_label

    printer.line()
    printer.line(f"verification reports: {plan.directory} (retention.report_days {days_label(plan.days)})")
    protected = [item for item in plan.keep if any(reason.startswith("newest") for reason in item.reasons)]
    rows = [_row("REMOVE", item.name, item, f"{item.rule}: {item.reasons[0]}") for item in plan.remove]
    rows += [_row("keep", item.name, item, ", ".join(item.reasons)) for item in protected]
    if rows:
        printer.table(["action", "report", "age", "size", "why"], rows)
    elif not plan.keep:
        printer.line("  no reports")
    printer.line(f"  remove {len(plan.remove)} report(s), {size(plan.freed_bytes)} freed; keep {len(plan.keep)} "
                 f"({len(protected)} the newest of a kind or overall, {len(plan.keep) - len(protected)} within "
                 f"{days_label(plan.days)})")


def run_lifecycle_cli(args: argparse.Namespace, settings: Settings, printer: Printer) -> int:
    from console.retention import lifecycle

    if not settings.s3.bucket:
        raise UsageError("no S3 bucket configured (BACKUP_S3_BUCKET or s3.bucket)")
    if args.apply and settings.read_only:
        raise ReadOnlyRefused("retention lifecycle --apply")
    comparison = lifecycle.compare(settings)
    if args.apply and not args.yes:
        if not args.json:
            print_lifecycle(comparison, printer)
        raise ConfirmationRequired("retention lifecycle --apply needs --yes; the bucket was not changed")
    applied = False
    if args.apply and comparison.changed:
        lifecycle.apply(settings, comparison)
        applied = True
    if args.json:
        printer.data({**comparison.as_json(), "applied": applied})
    else:
        print_lifecycle(comparison, printer)
        if args.apply:
            printer.line("applied" if applied else "nothing to apply: the bucket already matches the policy")
    return ExitCode.OK


def print_lifecycle(comparison, printer: Printer) -> None:  # noqa: ANN001 - lifecycle.Comparison
    printer.line(f"bucket lifecycle of s3://{comparison.bucket} (rules owned by backup-console: id backup-console-*)")
    for change in comparison.changes:
        printer.line(f"  {change.action:9} {change.rule_id}: {change.summary}")
    for note in comparison.notes:
        printer.line(f"  note: {note}")
    if not comparison.changed:
        printer.line("  in sync with the policy")


def run_policy_cli(args: argparse.Namespace, settings: Settings, printer: Printer) -> int:
    from console.retention.policy import days_label, load_policy

    policy = load_policy(settings)
    if args.json:
        printer.data({**policy.as_json(), "report_days": settings.retention.report_days})
        return ExitCode.OK
    printer.line(f"policy: {policy.source} (min_keep {policy.min_keep})")
    # the kinds' titles are in --json: the names say as much and the table fits 80 columns without them
    printer.table(["kind", "local", "s3 standard", "expires offsite", "archive class", "overridden by"],
                  [[r.kind, days_label(r.local_days), days_label(r.s3_standard_days),
                    days_label(r.expiration_days), r.archive_class if r.transition_days else "-",
                    "; ".join(r.overridden) or "-"] for r in policy.rules.values()])
    printer.line(f"verification reports: {days_label(settings.retention.report_days)} locally (retention.report_days), "
                 f"the newest and the newest per kind always")
    return ExitCode.OK
