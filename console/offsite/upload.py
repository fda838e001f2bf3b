"""Offsite copies on S3: upload a backup set under the manual's key layout, check it, list it.

Keys (console.offsite.keys) are ``<prefix><kind>/<stamp>/<object>`` as the manual's upload snippets write them
(``postgres/<ts>/backup.dump``, ``postgres/<ts>/backup.sql.gz``, ``postgres/<ts>/metadata.json``,
``redis/<ts>/snapshot.rdb.gz``, ``redis/<ts>/aof.aof.gz``, ``redis/<ts>/metadata.json``); RabbitMQ,
config and certificate sets keep their file names. A PostgreSQL set goes to
``postgres/<db>/<ts>/`` unless its database is the only one configured (``postgres.database``
with ``postgres.databases`` empty or naming just it), so two databases dumped in the same
second never share keys. A named instance's sets go below ``<kind>@<instance>/``.

Every object (every part of a big one) carries a SHA-256 checksum the server checks on receipt;
we check the stored copy against ours from the ``ChecksumSHA256`` S3 answers the upload with
(``_confirm_stored``), and with ``head_object`` (size + ``ChecksumSHA256``) only where the answer
carries none. Big files go in parts; a failed multipart upload is aborted, and when even the
abort cannot reach S3 it is remembered in ``BACKUP_DIR/.s3/pending-aborts.json`` and aborted by
the next upload or listing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Iterator, Mapping

from console import __version__, jsondoc
from console.artifacts import sha256_file, write_json_atomic
from console.catalog import BackupFile, BackupSet, parse_metadata, read_metadata
from console.errors import Cancelled, ConsoleError
from console.kinds import registry
from console.layout import TIMESTAMP_FORMAT
from console.offsite.bucket import OffsiteSet, list_offsite_sets
from console.offsite.keys import set_directory
from console.probes.s3 import describe_error, make_client
from console.progress import CancelToken, ProgressCallback, ProgressEvent, Throttle, check_cancel, emit
from console.provenance import recorded_checksums
from console.runlog import RunRecord, read_runs, record_run

if TYPE_CHECKING:
    from console.config import Settings

MIN_PART_BYTES = 5 * 1024 * 1024
MAX_PARTS = 10_000


class UploadFailed(ConsoleError):
    """An upload to S3 did not complete; the local set is untouched and nothing partial stays on S3."""


@dataclass(frozen=True)
class UploadedObject:
    key: str
    file: str
    size_bytes: int
    sha256: str
    checksum_sha256: str
    """S3's ChecksumSHA256: base64 SHA-256 of the object, or of the part checksums (``-N``) in parts."""
    parts: int
    storage_class: str
    etag: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "file": self.file, "size_bytes": self.size_bytes, "sha256": self.sha256,
                "checksum_sha256": self.checksum_sha256, "parts": self.parts, "storage_class": self.storage_class,
                "etag": self.etag}


@dataclass(frozen=True)
class UploadResult:
    set_id: str
    bucket: str
    endpoint: str
    objects: tuple[UploadedObject, ...]
    storage_class: str
    sse: str
    uploaded_at: str
    duration_seconds: float
    metadata_updated: bool
    """False for the manual's metadata that is not plain valid JSON: the run log holds the record."""

    @property
    def size_bytes(self) -> int:
        return sum(item.size_bytes for item in self.objects)

    def s3_section(self) -> dict[str, Any]:
        """What the set's metadata records under ``"s3"``."""
        return {"bucket": self.bucket, "endpoint": self.endpoint, "keys": [item.key for item in self.objects],
                "storage_class": self.storage_class, "sse": self.sse, "uploaded_at": self.uploaded_at,
                "objects": [item.as_json() for item in self.objects]}

    def as_json(self) -> dict[str, Any]:
        return {"set_id": self.set_id, "status": "ok", "size_bytes": self.size_bytes,
                "duration_seconds": round(self.duration_seconds, 3), "metadata_updated": self.metadata_updated,
                **self.s3_section()}


# --- key layout ------------------------------------------------------------------------------


def object_name(backup_set: BackupSet, item: BackupFile) -> str:
    """The object's name inside the set directory (the manual's short names for PostgreSQL and Redis)."""
    file_name = item.path.name
    if item.role == "metadata" and backup_set.kind in ("postgres", "redis"):
        return "metadata.json"
    if backup_set.kind not in ("postgres", "redis") or item.timestamp is None:
        return file_name
    stamp = item.timestamp.strftime(TIMESTAMP_FORMAT)
    head, found, tail = file_name.partition(f"_{stamp}")
    if not found:
        return file_name
    if backup_set.kind == "postgres":
        head = "archive" if item.role == "archive" else "backup"
    return head + tail


def plan_keys(settings: Settings, backup_set: BackupSet) -> list[tuple[BackupFile, str]]:
    """Each file of the set with its key; data files first, metadata last."""
    directory = set_directory(settings, backup_set)
    ordered = sorted(backup_set.files, key=lambda item: item.role == "metadata")
    names = [object_name(backup_set, item) for item in ordered]
    if len(set(names)) != len(names):  # an unexpected extra file: keep every original name instead
        names = [item.path.name for item in ordered]
    return [(item, directory + name) for item, name in zip(ordered, names)]


# --- client and errors ------------------------------------------------------------------------


def transfer_client(settings: Settings) -> Any:
    # Every object and part this client sends carries a signed checksum header that the server
    # checks the body against (the other bodies are small XML lists, and the completed object's
    # checksum is compared with ours), so signing a SHA-256 of the body as well proves nothing
    # more. botocore already skips it over HTTPS for such bodies; over plain HTTP (MinIO, Ceph or
    # moto without TLS) it hashed every byte of the upload once more, on the critical path.
    # s3.sign_payloads brings it back for a server that insists.
    client = make_client(settings, timeout=settings.s3.transfer_timeout_seconds, retries=settings.s3.max_attempts,
                         connections=max(10, settings.s3.upload_concurrency + 2),
                         sign_payloads=settings.s3.sign_payloads)
    client.meta.events.register("before-send.s3.UploadPart", _part_without_expect,
                                unique_id="backup-console-part-without-expect")
    return client


def _part_without_expect(request: Any, **_: Any) -> None:
    """Send a part's body at once instead of after ``Expect: 100-continue`` (one round trip per part).

    botocore asks for ``100 Continue`` before every file-like body (botocore#303: so that an error
    answer, first of all a redirect to a new bucket's region, comes before the body is sent for
    nothing). A part goes only after ``create_multipart_upload`` succeeded on the same client,
    bucket and key: the endpoint, region, credentials and bucket are proven, and what is left to
    refuse a part (throttling, an expired token, the upload aborted meanwhile) costs at most the
    parts in flight sent in vain; they are retried from the file (``ReadFileChunk`` is seekable),
    and the header is not signed, so dropping it changes nothing else. Other bodies keep it.
    """
    request.headers.pop("Expect", None)


def describe(exc: Exception, settings: Settings) -> str:
    return describe_error(exc, settings)[1]


def _require_bucket(settings: Settings) -> str:
    if not settings.s3.bucket:
        raise UploadFailed("no S3 bucket configured", hint="set BACKUP_S3_BUCKET or s3.bucket in the config file")
    return settings.s3.bucket


def check_bucket(settings: Settings, client: Any) -> None:
    """Fail with one line when the bucket is missing, denied or the endpoint is down."""
    from botocore import exceptions as bexc

    try:
        client.head_bucket(Bucket=settings.s3.bucket)
    except (bexc.BotoCoreError, bexc.ClientError) as exc:
        raise UploadFailed(describe(exc, settings)) from None


class BucketCheck:
    """``check_bucket`` in the background: its round trip overlaps the one creating the first multipart
    upload. ``wait`` comes before the first progress line and the first byte sent, so a missing bucket
    is still the first thing said, and nothing is sent to a bucket that is not there."""

    def __init__(self, settings: Settings, client: Any) -> None:
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3-bucket")
        self._checked = pool.submit(check_bucket, settings, client)
        pool.shutdown(wait=False)

    def wait(self) -> None:
        self._checked.result()  # raises check_bucket's UploadFailed


# --- upload ------------------------------------------------------------------------------------


def upload_set(
    settings: Settings,
    backup_set: BackupSet,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> UploadResult:
    """Copy every file of a set to S3, check each copy, then record the upload in the metadata.

    Raises:
        UploadFailed: no bucket, denied, endpoint down, a local file not matching its metadata,
            or a copy that does not match after the upload. Nothing partial stays on S3.
        Cancelled: the operator cancelled; the multipart upload in progress is aborted.
    """
    bucket = _require_bucket(settings)
    started = time.time()
    try:
        result = _upload(settings, bucket, backup_set, on_progress, cancel, started)
    except ConsoleError as exc:
        record_run(settings.backup_dir, RunRecord(
            action="upload", kind=backup_set.kind, target=backup_set.name, started=started, finished=time.time(),
            status="cancelled" if isinstance(exc, Cancelled) else "failed", message=exc.message, set_id=backup_set.set_id))
        raise
    record_run(settings.backup_dir, RunRecord(
        action="upload", kind=backup_set.kind, target=backup_set.name, status="ok", started=started,
        finished=time.time(), message=f"{len(result.objects)} object(s) to s3://{bucket}/{set_directory(settings, backup_set)}",
        set_id=backup_set.set_id, extra={"s3": result.s3_section()}))
    return result


def _upload(settings: Settings, bucket: str, backup_set: BackupSet, on_progress: ProgressCallback | None,
            cancel: CancelToken | None, started: float) -> UploadResult:
    from botocore import exceptions as bexc

    progress = Throttle(on_progress)
    recorded = recorded_checksums(backup_set, action="upload")  # before S3 is touched: a legacy set has none
    client = transfer_client(settings)
    abort_pending(settings, client)
    bucket_check = BucketCheck(settings, client)
    metadata = read_metadata(backup_set)
    uploaded: list[UploadedObject] = []
    metadata_item: tuple[BackupFile, str] | None = None
    for item, key in plan_keys(settings, backup_set):
        if item.role == "metadata":
            metadata_item = (item, key)
            continue
        check_cancel(cancel)
        expected = recorded.get(item.path.name)
        if expected and item.size_bytes > settings.s3.multipart_threshold_mb * 1024 * 1024:
            # checked while its parts are read (_put_multipart) and before the upload completes:
            # the file is read once, and a mismatch aborts the upload, so nothing damaged lands
            digest = expected
        else:
            bucket_check.wait()
            emit(progress, ProgressEvent(f"checksum {item.path.name}", 0, item.size_bytes))
            digest = sha256_file(item.path)
            if expected and expected != digest:
                raise _damaged(item.path.name)
        try:
            uploaded.append(_put_file(settings, client, bucket, backup_set, item, key, digest, progress, on_progress,
                                      cancel, bucket_check))
        except (bexc.BotoCoreError, bexc.ClientError) as exc:
            raise UploadFailed(f"upload of {item.path.name} failed: {describe(exc, settings)}") from None
    uploaded_at = datetime.now().astimezone().isoformat(timespec="seconds")
    endpoint = settings.s3.endpoint_url or "AWS"
    partial = UploadResult(backup_set.set_id, bucket, endpoint, tuple(uploaded), settings.s3.storage_class,
                           settings.s3.sse, uploaded_at, 0.0, False)
    updated = False
    if metadata_item is not None:
        item, key = metadata_item
        document = metadata.document if _rewritable(item.path) else None
        if document is not None:  # "objects" lists the data files: this document itself changes after every verify
            section = {**partial.s3_section(), "keys": partial.s3_section()["keys"] + [key]}
            document = {**document, "s3_uploaded": True, "s3_bucket": bucket, "s3": section}
            body = (json.dumps(document, indent=2) + "\n").encode()
        else:
            body = item.path.read_bytes()
        try:
            bucket_check.wait()
            meta_obj = _put_bytes(settings, client, bucket, backup_set, item, key, body)
        except (bexc.BotoCoreError, bexc.ClientError) as exc:
            raise UploadFailed(f"upload of {item.path.name} failed: {describe(exc, settings)}") from None
        uploaded.append(meta_obj)
        if document is not None:
            _rewrite_metadata(item.path, document)
            updated = True
    return UploadResult(backup_set.set_id, bucket, endpoint, tuple(uploaded), settings.s3.storage_class,
                        settings.s3.sse, uploaded_at, time.time() - started, updated)


def _damaged(name: str) -> UploadFailed:
    return UploadFailed(f"{name} does not match the SHA-256 in its metadata: refusing to upload a damaged file",
                        hint="run `backup-console verify` on this set")


def _rewritable(path: Path) -> bool:
    """Only plain JSON metadata is rewritten; the manual's gzipped metadata stays as it is."""
    return path.name.endswith(".json")


def _rewrite_metadata(path: Path, document: dict[str, Any]) -> None:
    """Merge into the file as it is now (verify may have written it meanwhile), then replace it atomically."""
    current = read_metadata_path(path) or {}
    merged = {**current, **{key: document[key] for key in ("s3_uploaded", "s3_bucket", "s3")}}
    write_json_atomic(path, merged)


def read_metadata_path(path: Path) -> dict[str, Any] | None:
    """The metadata document at ``path`` if it is readable and well-typed, else None."""
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    return parse_metadata(raw, path.name).document


def _extra_args(settings: Settings, backup_set: BackupSet, sha256_hex: str, storage_class: str) -> dict[str, Any]:
    s3 = settings.s3
    args: dict[str, Any] = {
        "StorageClass": storage_class,
        "Metadata": {"backup-type": registry.get(backup_set.kind).s3_type,
                     "timestamp": backup_set.stamp, "set-id": backup_set.set_id, "sha256": sha256_hex,
                     "producer": f"backup-console {__version__}",
                     **({"database": backup_set.name} if backup_set.kind == "postgres" and backup_set.name else {})},
    }
    if s3.sse == "AES256":
        args["ServerSideEncryption"] = "AES256"
    elif s3.sse == "aws:kms":
        args["ServerSideEncryption"] = "aws:kms"
        if s3.kms_key_id:
            args["SSEKMSKeyId"] = s3.kms_key_id
    return args


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def part_size(settings: Settings, size_bytes: int) -> int:
    """Part size: the configured one, at least S3's 5 MiB and large enough for at most 10,000 parts."""
    wanted = max(MIN_PART_BYTES, settings.s3.part_size_mb * 1024 * 1024)
    return max(wanted, math.ceil(size_bytes / MAX_PARTS))


def _put_bytes(settings: Settings, client: Any, bucket: str, backup_set: BackupSet, item: BackupFile,
               key: str, body: bytes) -> UploadedObject:
    digest = hashlib.sha256(body).digest()
    args = _extra_args(settings, backup_set, digest.hex(), "STANDARD")
    answer = client.put_object(Bucket=bucket, Key=key, Body=body, ChecksumAlgorithm="SHA256", ChecksumSHA256=_b64(digest),
                               **args)
    uploaded = UploadedObject(key, item.path.name, len(body), digest.hex(), _b64(digest), 1, "STANDARD",
                              str(answer.get("ETag", "")).strip('"'))
    _confirm_stored(settings, client, bucket, uploaded, answer)
    return uploaded


def _put_file(settings: Settings, client: Any, bucket: str, backup_set: BackupSet, item: BackupFile, key: str,
              sha256_hex: str, progress: ProgressCallback, on_part: ProgressCallback | None,
              cancel: CancelToken | None, bucket_check: BucketCheck) -> UploadedObject:
    size = item.path.stat().st_size
    storage_class = settings.s3.storage_class
    args = _extra_args(settings, backup_set, sha256_hex, storage_class)
    phase = f"upload {item.path.name}"
    if size <= settings.s3.multipart_threshold_mb * 1024 * 1024:
        bucket_check.wait()
        emit(progress, ProgressEvent(phase, 0, size))
        checksum = _b64(bytes.fromhex(sha256_hex))
        with open(item.path, "rb") as body:
            answer = client.put_object(Bucket=bucket, Key=key, Body=body, ChecksumAlgorithm="SHA256",
                                       ChecksumSHA256=checksum, **args)
        parts = 1
    else:
        checksum, parts, answer = _put_multipart(settings, client, bucket, key, item.path, size, args, phase, on_part,
                                                 cancel, sha256_hex, bucket_check, progress)
    emit(progress, ProgressEvent(phase, size, size, finished=True))
    uploaded = UploadedObject(key, item.path.name, size, sha256_hex, checksum, parts, storage_class,
                              str(answer.get("ETag", "")).strip('"'))
    _confirm_stored(settings, client, bucket, uploaded, answer)
    return uploaded


def _put_multipart(settings: Settings, client: Any, bucket: str, key: str, path: Path, size: int,
                   args: dict[str, Any], phase: str, on_part: ProgressCallback | None,
                   cancel: CancelToken | None, sha256_hex: str, bucket_check: BucketCheck,
                   progress: ProgressCallback) -> tuple[str, int, dict[str, Any]]:
    """Upload in parts, each with its own SHA-256, ``s3.upload_concurrency`` at a time; abort on
    any failure (or remember to), and when the file's SHA-256 is not ``sha256_hex`` (hashed on the
    way, in order, while earlier parts are in flight: compared before the upload is completed).

    At most ``upload_concurrency`` parts are in flight; over a long link their round trips overlap
    instead of adding up, and the upload is created while the bucket is checked. No part
    is held in memory: each is hashed and then sent from the file (the page cache) a block at a
    time, so memory does not grow with the part size or the window.
    One progress event per finished part, unthrottled: a part is at least 5 MiB.
    """
    from s3transfer.utils import ReadFileChunk

    chunk_size = part_size(settings, size)
    window = settings.s3.upload_concurrency
    # one worker more than the window: the request creating the upload, while the first parts hash
    pool = ThreadPoolExecutor(max_workers=window + 1, thread_name_prefix="s3-part")
    created = pool.submit(client.create_multipart_upload, Bucket=bucket, Key=key, ChecksumAlgorithm="SHA256", **args)

    def send(number: int, offset: int, length: int, digest: bytes) -> tuple[dict[str, Any], bytes, int]:
        upload_id = created.result()["UploadId"]  # a failure to create fails every part with it
        # s3transfer's file window (what boto3's own transfers send): seekable for retries, read as sent
        with ReadFileChunk.from_filename(str(path), offset, length) as body:
            answer = client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body,
                                        ChecksumAlgorithm="SHA256", ChecksumSHA256=_b64(digest))
        return {"PartNumber": number, "ETag": answer["ETag"], "ChecksumSHA256": _b64(digest)}, digest, length

    finished: dict[int, tuple[dict[str, Any], bytes]] = {}
    done = 0

    def collect(futures: set[Future[tuple[dict[str, Any], bytes, int]]]) -> None:
        nonlocal done
        for future in futures:
            part, digest, length = future.result()  # a failed part raises here
            finished[part["PartNumber"]] = (part, digest)
            done += length
            emit(on_part, ProgressEvent(phase, done, size))

    in_flight: set[Future[tuple[dict[str, Any], bytes, int]]] = set()
    whole = hashlib.sha256()
    try:
        bucket_check.wait()  # its round trip and the creation's overlap
        emit(progress, ProgressEvent(phase, 0, size))
        with open(path, "rb") as handle:
            number = 0
            for offset in range(0, size, chunk_size):
                check_cancel(cancel)
                if created.done():
                    created.result()  # the upload could not be created: fail now, not after a window of hashing
                number += 1
                length = min(chunk_size, size - offset)
                # each block read once for both digests: the part's, sent with it, and the whole file's, in order
                part = hashlib.sha256()
                for block in _blocks(handle, length):
                    whole.update(block)
                    part.update(block)
                if len(in_flight) >= window:  # hashed while the window was full, sent as soon as a place frees
                    ready, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                    collect(ready)
                in_flight.add(pool.submit(send, number, offset, length, part.digest()))
        ready, in_flight = wait(in_flight)
        collect(ready)
        check_cancel(cancel)
        if whole.hexdigest() != sha256_hex:
            raise _damaged(path.name)  # aborted below: the damaged file never becomes an object
        ordered = [finished[n] for n in sorted(finished)]
        answer = client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=created.result()["UploadId"],
                                                  MultipartUpload={"Parts": [part for part, _ in ordered]})
    except BaseException:
        for future in in_flight:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)  # no part may land after the abort
        if not created.cancelled() and created.exception() is None:  # else there is nothing to abort
            _abort(settings, client, bucket, key, created.result()["UploadId"])
        raise
    finally:
        pool.shutdown(wait=False)
    digests = [digest for _, digest in ordered]
    return f"{_b64(hashlib.sha256(b''.join(digests)).digest())}-{len(digests)}", len(digests), answer


HASH_BLOCK = 1024 * 1024


def _blocks(handle: BinaryIO, length: int) -> Iterator[bytes]:
    """``length`` bytes of ``handle`` from where it stands, a block at a time; a file shorter than
    when it was sized fails the upload as damaged."""
    remaining = length
    while remaining:
        block = handle.read(min(HASH_BLOCK, remaining))
        if not block:
            raise _damaged(Path(getattr(handle, "name", "?")).name)
        remaining -= len(block)
        yield block


def _abort(settings: Settings, client: Any, bucket: str, key: str, upload_id: str) -> None:
    from botocore import exceptions as bexc

    try:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except (bexc.BotoCoreError, bexc.ClientError):
        pending = _read_pending(settings)
        pending.append({"bucket": bucket, "key": key, "upload_id": upload_id,
                        "endpoint": settings.s3.endpoint_url or "AWS", "recorded_at": time.time()})
        write_json_atomic(settings.root.pending_aborts, pending)


def _read_pending(settings: Settings) -> list[dict[str, Any]]:
    path = settings.root.pending_aborts
    try:
        document = jsondoc.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [entry for entry in document if isinstance(entry, dict)] if isinstance(document, list) else []


def pending_aborts(settings: Settings) -> list[dict[str, Any]]:
    """Multipart uploads that failed and could not be aborted yet (the endpoint was down)."""
    return _read_pending(settings)


def abort_pending(settings: Settings, client: Any) -> list[str]:
    """Abort the remembered half-done multipart uploads of this endpoint; return the keys aborted."""
    from botocore import exceptions as bexc

    pending = _read_pending(settings)
    if not pending:
        return []
    endpoint = settings.s3.endpoint_url or "AWS"
    kept: list[dict[str, Any]] = []
    aborted: list[str] = []
    for entry in pending:
        if entry.get("endpoint") != endpoint:
            kept.append(entry)
            continue
        try:
            client.abort_multipart_upload(Bucket=entry["bucket"], Key=entry["key"], UploadId=entry["upload_id"])
            aborted.append(entry["key"])
        except bexc.ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in ("NoSuchUpload", "404"):
                aborted.append(entry["key"])
            else:
                kept.append(entry)
        except bexc.BotoCoreError:
            kept.append(entry)
    write_json_atomic(settings.root.pending_aborts, kept)
    return aborted


# --- checking copies -----------------------------------------------------------------------------


def _confirm_stored(settings: Settings, client: Any, bucket: str, uploaded: UploadedObject,
                    answer: Mapping[str, Any]) -> None:
    """The stored copy is the file: from the ``ChecksumSHA256`` of S3's answer to the upload
    (``PutObject``, ``CompleteMultipartUpload``) when it carries one, else from ``head_object``.

    The answer is as strong a proof as a ``head_object`` after it, one round trip less. S3 checks
    every body against the SHA-256 sent with it and refuses a mismatch (``BadDigest``), and
    ``CompleteMultipartUpload`` checks each listed part's SHA-256 against the part stored; the
    checksum it answers is the object's stored one, the very value ``head_object`` would return
    (for parts: the SHA-256 of the stored parts' SHA-256s, in order, so it binds every byte, each
    part's length and the part count, hence the size ``head_object`` would compare). Compared
    with the one computed here from the file, it proves the same thing. An answer without one
    (moto's ``CompleteMultipartUpload``; a server that keeps no checksums) gets the ``head_object``
    check as before. moto stores and answers the SHA-256 sent with a PUT without checking it: there
    neither its answer nor ``head_object`` proves a PUT's bytes (``head_object`` added only the
    size, which the request's Content-Length already fixes); its multipart checksum it computes
    from the parts stored, which ``head_object`` does check. A copy that does not match is
    deleted, not left as if good.
    """
    remote = str(answer.get("ChecksumSHA256") or "")
    if remote:
        if remote.split("-", 1)[0] == uploaded.checksum_sha256.split("-", 1)[0]:
            return
        message = f"S3 stored SHA-256 {remote[:12]}..., the file's {uploaded.checksum_sha256[:12]}..."
    else:
        status, message = check_object(client, bucket, uploaded.key, uploaded.size_bytes, uploaded.sha256,
                                        uploaded.checksum_sha256, uploaded.etag)
        if status == "passed":
            return
    _delete_bad_copy(client, bucket, uploaded)
    raise UploadFailed(f"the copy of {uploaded.file} on S3 does not match: {message}")


def _delete_bad_copy(client: Any, bucket: str, uploaded: UploadedObject) -> None:
    """Remove the copy just stored that does not match (best effort: the upload fails either way)."""
    from botocore import exceptions as bexc

    try:
        client.delete_object(Bucket=bucket, Key=uploaded.key)
    except (bexc.BotoCoreError, bexc.ClientError):
        pass


def check_object(client: Any, bucket: str, key: str, size_bytes: int, sha256_hex: str,
                 checksum_sha256: str | None = None, etag: str | None = None) -> tuple[str, str]:
    """Compare an object with what was sent: ("passed"|"failed"|"warning", one line).

    The size must match; then S3's own ChecksumSHA256 (a whole-object digest, or the digest of
    the part digests for a multipart object); failing that the ETag recorded at upload, then
    our ``sha256`` object metadata. With none of these the copy is present but unproven.
    """
    from botocore import exceptions as bexc

    where = f"s3://{bucket}/{key}"
    try:
        head = client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except bexc.ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchKey", "NotFound"):
            return "failed", f"S3 copy missing: {where}"
        raise
    if head.get("ContentLength") != size_bytes:
        return "failed", f"S3 copy {where} has {head.get('ContentLength')} bytes, the local file {size_bytes}"
    remote = head.get("ChecksumSHA256")
    if remote:
        expected = {c.split("-", 1)[0] for c in (_b64(bytes.fromhex(sha256_hex)) if sha256_hex else None, checksum_sha256) if c}
        if remote.split("-", 1)[0] in expected:
            return "passed", f"S3 copy OK ({where}, same size and SHA-256)"
        if checksum_sha256 is not None or size_bytes <= MIN_PART_BYTES:
            return "failed", f"S3 copy {where} has a different SHA-256 checksum"
    remote_etag = str(head.get("ETag", "")).strip('"')
    if etag and remote_etag:
        if remote_etag == etag.strip('"'):
            return "passed", f"S3 copy OK ({where}, same size and ETag)"
        return "failed", f"S3 copy {where} was replaced (ETag {remote_etag[:12]}..., uploaded {etag.strip(chr(34))[:12]}...)"
    claimed = (head.get("Metadata") or {}).get("sha256")
    if claimed:
        if claimed == sha256_hex:
            return "passed", f"S3 copy OK ({where}, same size; SHA-256 per object metadata)"
        return "failed", f"S3 copy {where} carries SHA-256 {claimed[:12]}..., the local file {sha256_hex[:12]}..."
    return "warning", f"S3 copy present ({where}, same size) but carries no checksum to compare"


def uploads_recorded(settings: Settings, backup_set: BackupSet, document: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The ``s3`` section of the set's last upload: from its metadata, else from the run log."""
    if document and isinstance(document.get("s3"), dict) and document["s3"].get("objects"):
        return dict(document["s3"])
    for record in reversed(read_runs(settings.backup_dir, limit=5000)):
        if record.action == "upload" and record.status == "ok" and record.set_id == backup_set.set_id:
            section = record.extra.get("s3")
            if isinstance(section, dict):
                return section
    return None


# --- listing -------------------------------------------------------------------------------------


def list_offsite(settings: Settings, kind: str | None = None) -> list[OffsiteSet]:
    """Sets in the bucket below every prefix that may hold them (optionally one kind), oldest first;
    multipart uploads left by a failed run are aborted first."""
    from botocore import exceptions as bexc

    _require_bucket(settings)
    client = transfer_client(settings)
    try:
        abort_pending(settings, client)
        found, _stray = list_offsite_sets(settings, client)
    except (bexc.BotoCoreError, bexc.ClientError) as exc:
        raise UploadFailed(describe(exc, settings)) from None
    return [item for item in found if kind is None or item.kind == kind]
