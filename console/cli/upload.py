"""``backup-console upload BACKUP|--latest KIND`` and ``backup-console s3 ls``: offsite copies on S3."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING

from console.catalog import KINDS
from console.errors import ExitCode, UsageError
from console.formatting import duration, size
from console.sets import newest_set, resolve_any

if TYPE_CHECKING:
    from console.catalog import BackupSet
    from console.cli.output import Printer
    from console.config import Settings


@dataclass(frozen=True)
class UploadOptions:
    backup: str | None
    latest: str | None
    json: bool


@dataclass(frozen=True)
class ListOptions:
    kind: str | None
    json: bool


def register(subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    upload = subparsers.add_parser(
        "upload", parents=parents, help="copy a backup set to S3",
        description="Upload every file of a backup set to the configured bucket under the manual's key layout "
                    "(e.g. postgres/<ts>/backup.dump, redis/<ts>/snapshot.rdb.gz), with the configured storage "
                    "class and server-side encryption, a SHA-256 checksum checked after the upload, and record it "
                    "in the set's metadata. Exit 0 uploaded, 1 failed (no bucket, denied, endpoint down, "
                    "mismatch), 2 usage error.",
    )
    upload.add_argument("backup", nargs="?", metavar="BACKUP",
                        help="set id (e.g. postgres/mydb/20260101_020000) or the path of one of its files")
    upload.add_argument("--latest", metavar="KIND", choices=KINDS, help="upload the newest set of KIND")
    upload.set_defaults(handler=lambda args, settings, printer: run_upload(
        UploadOptions(args.backup, args.latest, args.json), settings, printer))

    s3 = subparsers.add_parser("s3", help="look at the offsite copies on S3",
                               description="Commands about the offsite copies in the configured bucket.")
    actions = s3.add_subparsers(dest="s3_action", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "ls", parents=parents, help="list the backup sets on S3 with sizes and storage classes",
        description="List the sets under the configured prefix, grouped by key directory "
                    "(kind/[database/]timestamp). Exit 0 listed, 1 S3 unreachable or no bucket.")
    listing.add_argument("--kind", choices=KINDS, help="only this kind")
    listing.set_defaults(handler=lambda args, settings, printer: run_s3_ls(ListOptions(args.kind, args.json),
                                                                            settings, printer))


def resolve(settings: Settings, reference: str | None, latest: str | None) -> BackupSet:
    """The local set named by id, by the path of one of its files, or the newest of a kind."""
    if bool(reference) == bool(latest):
        raise UsageError("give either BACKUP (a set id or file path) or --latest KIND")
    return newest_set(settings, latest) if latest else resolve_any(settings, reference or "")


def run_upload(options: UploadOptions, settings: Settings, printer: Printer) -> int:
    from console.offsite.upload import upload_set

    backup_set = resolve(settings, options.backup, options.latest)
    result = upload_set(settings, backup_set, on_progress=printer.progress())
    if options.json:
        printer.data(result.as_json())
        return ExitCode.OK
    printer.line(f"{backup_set.set_id}: uploaded {len(result.objects)} object(s), {size(result.size_bytes)} "
                 f"in {duration(result.duration_seconds)} to s3://{result.bucket}/")
    for item in result.objects:
        printer.line(f"  s3://{result.bucket}/{item.key}  {size(item.size_bytes)}  {item.storage_class}  "
                     f"sha256 {item.sha256[:16]}")
    if not result.metadata_updated:
        printer.info("  note: the set has no metadata we may rewrite (the manual's invalid or gzipped JSON, or none): "
                     "the upload is recorded in the run log")
    return ExitCode.OK


def run_s3_ls(options: ListOptions, settings: Settings, printer: Printer) -> int:
    from console.offsite.upload import list_offsite

    found = list_offsite(settings, options.kind)
    if options.json:
        printer.data({"bucket": settings.s3.bucket, "prefix": settings.s3.prefix,
                      "sets": [item.as_json() for item in found]})
        return ExitCode.OK
    if not found:
        printer.line(f"no backup sets in s3://{settings.s3.bucket}/{settings.s3.prefix}")
        return ExitCode.OK
    printer.table(["kind", "instance", "name", "stamp", "objects", "size", "storage class", "prefix"],
                  [[item.kind, item.instance, item.name or "-", item.stamp, len(item.keys), size(item.size_bytes),
                    ",".join(item.storage_classes), item.directory] for item in found])
    return ExitCode.OK
