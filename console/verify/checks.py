"""The checks every kind shares, and the building blocks the per-kind verifiers use.

Metadata present and sane, SHA-256 and size against the metadata, files the metadata lists,
age of the newest set, the S3 copy; and by file name: compression streams, tar listings, JSON,
decryption (``check_by_name``). Each check adds CheckOutcomes to the set's SetContext.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from console.artifacts import sha256_file
from console.catalog import CLOCK_SKEW_SECONDS, BackupFile, recorded_uncompressed_bytes
from console.freshness import is_fresh, stale_after_hours
from console.progress import check_cancel
from console.provenance import evidence
from console.verify.model import FAILED, PASSED, SKIPPED, WARNING, SetContext, primary_name


def check_metadata(ctx: SetContext, verifier: Any) -> None:
    """Metadata present and sane; the manual's invalid JSON is a warning naming its defect."""
    path = ctx.backup_set.metadata_path
    if path is None:
        proof = evidence(ctx.backup_set)
        if proof is not None:
            ctx.add("metadata", FAILED, f"metadata file missing, but backup-console wrote this set ({proof}): "
                                        "its files cannot be checked against their checksums", primary_name(ctx.backup_set))
            return
        missing = getattr(verifier, "missing_metadata", None)
        outcome = missing(ctx) if missing else None
        status, message = outcome or (FAILED, "metadata file missing: the set cannot be checked against its record")
        ctx.add("metadata", status, message, primary_name(ctx.backup_set))
        return
    name = path.name
    read = ctx.metadata
    if read.document is None or not read.ours:
        proof = evidence(ctx.backup_set)
        if proof is not None:
            damage = read.error or "it is not backup-console's metadata (no producer, no checksums)"
            ctx.add("metadata", FAILED, f"metadata of a set backup-console wrote ({proof}) is unusable: {damage}", name)
            return
    if read.document is None:
        legacy = getattr(verifier, "legacy_metadata", None)
        outcome = legacy(ctx, read.error or "") if legacy else None
        if outcome is None:
            defect = getattr(verifier, "LEGACY_DEFECT", "")
            outcome = (WARNING, f"metadata unreadable: {read.error}" + (f"; {defect}" if defect else ""))
        ctx.add("metadata", outcome[0], outcome[1], name)
        return
    document = read.document
    if not read.ours:
        ctx.add("metadata", PASSED, "metadata is valid JSON (the manual's format: no checksums recorded)", name)
        return
    problems = []
    if document.get("set_id") not in (None, ctx.backup_set.set_id):
        problems.append(f"set_id '{document.get('set_id')}' is not this set's ({ctx.backup_set.set_id})")
    artifacts = document.get("artifacts")
    if not isinstance(artifacts, list) or not artifacts:
        problems.append("no 'artifacts' list")
    elif not all(isinstance(entry, dict) and entry.get("name") and entry.get("sha256") for entry in artifacts):
        problems.append("an artifact entry lacks name or sha256")
    timestamp = document.get("timestamp")
    if isinstance(timestamp, str):
        try:
            datetime.fromisoformat(timestamp)
        except ValueError:
            problems.append(f"timestamp '{timestamp}' is not ISO-8601")
    else:
        problems.append("no timestamp")
    if problems:
        ctx.add("metadata", FAILED, "metadata is not sane: " + "; ".join(problems), name)
    else:
        ctx.add("metadata", PASSED, f"metadata OK ({document.get('producer')}, {len(artifacts)} artifact(s))", name)


def check_recorded(ctx: SetContext, item: BackupFile) -> None:
    """SHA-256 and size against our metadata; size against the manual's ``files`` entries.

    The hash is taken on the way through the kind's own read of the file (``ctx.raw_observer``),
    so a multi-GB dump is read once for hash and content; :func:`settle_recorded` compares it
    afterwards, in this check's place among the outcomes.
    """
    name = item.path.name
    entry = ctx.artifact(name)
    if entry is None:
        if ctx.metadata.ours:
            ctx.add("sha256", WARNING, "file is not listed in the metadata's artifacts: no checksum to compare", name)
        else:
            _check_legacy_size(ctx, item)
        return
    recorded_size = entry.get("size_bytes")
    try:
        actual_size = item.path.stat().st_size
    except OSError as exc:
        ctx.add("sha256", FAILED, f"cannot read {name}: {exc.strerror or exc}", name)
        return
    if isinstance(recorded_size, int) and recorded_size != actual_size:
        ctx.add("sha256", FAILED, f"size {actual_size} bytes differs from the metadata's {recorded_size} "
                "(truncated or replaced)", name)
        return
    ctx.defer_hash(name, actual_size)


def settle_recorded(ctx: SetContext, item: BackupFile) -> None:
    """Compare the hash taken during the kind's checks; hash the file here if they did not read it all."""
    name = item.path.name
    pending = ctx.take_hash(name)
    if pending is None:
        return
    entry = ctx.artifact(name) or {}

    def compare() -> tuple[str, str]:
        digest = pending.hexdigest() if pending.complete else sha256_file(item.path)
        ctx.sha256[name] = digest
        if digest != entry.get("sha256"):
            return FAILED, f"SHA-256 mismatch: metadata {str(entry.get('sha256'))[:12]}..., file {digest[:12]}..."
        return PASSED, f"SHA-256 matches the metadata ({digest[:12]}...)"

    later = ctx.outcomes[pending.position:]
    del ctx.outcomes[pending.position:]
    ctx.run("sha256", name, compare)
    ctx.outcomes.extend(later)


def _check_legacy_size(ctx: SetContext, item: BackupFile) -> None:
    files = (ctx.document or {}).get("files")
    if not isinstance(files, dict):
        return
    for entry in files.values():
        if isinstance(entry, dict) and entry.get("name") == item.path.name and isinstance(entry.get("size_bytes"), int):
            actual = item.size_bytes
            if actual != entry["size_bytes"]:
                ctx.add("size", FAILED, f"size {actual} bytes differs from the metadata's {entry['size_bytes']}", item.path.name)
            else:
                ctx.add("size", PASSED, f"size matches the metadata ({actual} bytes)", item.path.name)


def check_missing_artifacts(ctx: SetContext) -> None:
    """Files our metadata lists that are not on disk."""
    if not ctx.metadata.ours:
        return
    present = {item.path.name for item in ctx.backup_set.files}
    directory = ctx.backup_set.metadata_path.parent if ctx.backup_set.metadata_path else None
    for entry in (ctx.document or {}).get("artifacts") or []:
        if not isinstance(entry, dict):
            continue
        name = str(entry.get("name", "")).rsplit("/", 1)[-1]
        if name and name not in present and not (directory and (directory / str(entry.get("name"))).exists()):
            ctx.add("exists", FAILED, "file listed in the metadata is missing", name)


def check_date(ctx: SetContext) -> None:
    """A set dated in the future (beyond a small clock skew) is a warning and is never the newest."""
    ahead = (ctx.backup_set.timestamp - ctx.now).total_seconds()
    if ahead > CLOCK_SKEW_SECONDS:
        ctx.add("date", WARNING, f"dated {ahead / 3600:.1f} h in the future ({ctx.backup_set.stamp}): a wrong clock or "
                                 "name; not counted as a fresh backup", primary_name(ctx.backup_set))


def check_age(ctx: SetContext) -> None:
    """The newest set of a daily kind must be fresh (console.freshness: younger than alerts.stale_hours;
    the manual's script said 24 h, which a nightly run that ends a little later than the last trips)."""
    primary = primary_name(ctx.backup_set)
    if not ctx.daily:
        return
    age = ctx.backup_set.age_seconds(ctx.now)
    hours, limit = age / 3600, stale_after_hours(ctx.settings)
    if is_fresh(ctx.settings, age):
        ctx.add("age", PASSED, f"Age OK (< {limit} hours: {hours:.1f} h)", primary)
    else:
        ctx.add("age", WARNING, f"Age WARNING (> {limit} hours: {hours:.0f} h since the newest backup)", primary)


def check_offsite(ctx: SetContext) -> dict[str, Any] | None:
    """When the set was uploaded: every object present on S3 with the same size and checksum."""
    from console.offsite import upload as offsite

    section = offsite.uploads_recorded(ctx.settings, ctx.backup_set, ctx.document)
    claims = bool(ctx.document and ctx.document.get("s3_uploaded") is True)
    if section is None:
        if claims:
            ctx.add("s3", WARNING, "metadata says s3_uploaded but records no objects to check",
                    primary_name(ctx.backup_set))
        return None
    bucket = str(section.get("bucket") or ctx.settings.s3.bucket)
    objects = [entry for entry in section.get("objects") or [] if isinstance(entry, dict)]
    here = ctx.settings.s3.endpoint_url or "AWS"
    if section.get("endpoint", here) != here:
        ctx.add("s3", SKIPPED, f"copy not checked: uploaded to {section.get('endpoint')}, this console talks to {here}",
                primary_name(ctx.backup_set))
        return dict(section)
    from botocore import exceptions as bexc

    try:
        client = offsite.transfer_client(ctx.settings)
    except Exception as exc:  # a broken credential chain must not end the verification
        ctx.add("s3", WARNING, f"cannot check the S3 copy: {exc}", primary_name(ctx.backup_set))
        return dict(section)
    present = {item.path.name: item for item in ctx.backup_set.files}
    for entry in objects:
        file_name = str(entry.get("file", ""))
        item = present.get(file_name)
        if item is None or item.role == "metadata":
            continue  # metadata is rewritten locally after every verification: only presence would mean anything
        check_cancel(ctx.cancel)
        try:
            sha = ctx.sha256.get(file_name) or sha256_file(item.path)
            ctx.sha256[file_name] = sha
            status, message = offsite.check_object(client, bucket, str(entry.get("key")), item.path.stat().st_size, sha,
                                                   entry.get("checksum_sha256"), entry.get("etag"))
        except (bexc.BotoCoreError, bexc.ClientError) as exc:
            status, message = WARNING, f"cannot check the S3 copy: {offsite.describe(exc, ctx.settings)}"
        except OSError as exc:
            status, message = FAILED, f"cannot read {file_name}: {exc.strerror or exc}"
        ctx.add("s3", status, message, file_name)
    return dict(section)


def check_stream(ctx: SetContext, item: BackupFile, tail_bytes: int = 0) -> bytes | None:
    """Decompress the whole file (gzip/zstd) as the compression check; return its tail, or None if broken.

    An uncompressed file gets no compression line; its tail is read directly.
    """
    from console.compressed import compression_of
    from console.integrity import stream_check

    name = item.path.name
    kind = compression_of(name)
    result: list[bytes] = []
    recorded = recorded_uncompressed_bytes(ctx.document, name)

    def run() -> str | tuple[str, str] | None:
        size, tail = stream_check(item.path, ctx.cancel, tail_bytes, ctx.raw_observer(name))
        result.append(tail)
        if kind is None:
            return None
        if recorded is not None and recorded != size:
            # a file of several zstd frames (or gzip members) cut where one ends still decodes cleanly
            return FAILED, (f"{kind} stream of {name} holds {size} bytes, its metadata records {recorded}: "
                            "the file was cut short or replaced")
        return f"File integrity OK ({kind} stream complete, Size: {item.size_bytes // (1024 * 1024)}MB, {size} bytes inside)"

    ctx.run(kind or "read", name, run)
    return result[0] if result else None


def check_by_name(ctx: SetContext, item: BackupFile) -> None:
    """The checks a file's name calls for: decrypt (.enc), tar listing, JSON parsing, compression."""
    from console.compressed import compression_of
    from console.integrity import load_json, tar_listing

    name = item.path.name
    if name.endswith(".enc"):
        check_encrypted(ctx, item)
    elif name.endswith((".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.lz4")):
        ctx.run("tar", name, lambda: f"archive lists "
                f"{len(tar_listing(item.path, name, ctx.cancel, ctx.raw_observer(name)))} entries")
    elif name.endswith((".json", ".json.gz", ".json.zst")):
        if compression_of(name) and check_stream(ctx, item) is None:
            return
        ctx.run("json", name, lambda: f"valid JSON ({type(load_json(item.path, ctx.cancel)).__name__})")
    elif compression_of(name):
        check_stream(ctx, item)


def check_encrypted(ctx: SetContext, item: BackupFile) -> None:
    """Decrypt without writing: ours must authenticate; the manual's openssl files get a content check."""
    name = item.path.name
    passphrase = ctx.passphrase()
    if passphrase is None:
        if name == primary_name(ctx.backup_set):  # the set's main content went unread: not a pass
            ctx.add("decrypt", WARNING, "not checked: no key to decrypt the set's main file "
                                        "(set BACKUP_ENCRYPTION_KEY or encryption.key_file)", name)
        else:
            ctx.add("decrypt", SKIPPED, "Decryption skipped: no key (set BACKUP_ENCRYPTION_KEY or encryption.key_file)",
                    name)
        return

    def run() -> tuple[str, str]:
        from console import crypto
        from console.integrity import tar_listing

        inner = name[: -len(".enc")]
        with open(item.path, "rb") as handle:
            decryption = crypto.Decryption(handle, passphrase, where=name, expect=crypto.expected_content(name),
                                           cancel=ctx.cancel)
            chunks = iter(decryption)
            listed = ""
            if inner.endswith((".tar", ".tar.gz", ".tgz")):
                listed = f", archive lists {len(tar_listing(crypto.IterReader(chunks), name, ctx.cancel))} entries"
            for _ in chunks:  # the rest (tar padding) must still authenticate
                check_cancel(ctx.cancel)
        result = decryption.result
        if result is None:
            return FAILED, "decryption ended early"
        if result.format == "backup-console":
            return PASSED, f"decrypts and authenticates ({result.scheme}{listed})"
        return PASSED, (f"decrypts with the key ({result.scheme}; no MAC, content looks like {result.content}"
                        f"{listed}; defect 19)")

    ctx.run("decrypt", name, run)
