"""S3 probe and client factory (boto3, honouring endpoint_url and the usual credential chain)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from console.probes.result import ProbeResult, ServiceState, Stopwatch

if TYPE_CHECKING:
    from console.config import Settings


def make_client(settings: Settings, timeout: float | None = None, retries: int = 1, connections: int = 10,
                sign_payloads: bool = True) -> Any:
    """A boto3 S3 client with timeouts; credentials come from boto3's chain, never from argv.

    ``retries`` is the total number of attempts per request: botocore's own ``max_attempts``
    counts retries after the first, so ``total_max_attempts`` is the one that means the same.
    ``sign_payloads=False`` signs ``UNSIGNED-PAYLOAD`` instead of a SHA-256 of every body, as
    botocore already does over HTTPS for a body sent with a checksum header.
    """
    import boto3
    from botocore.config import Config

    s3 = settings.s3
    timeout = settings.timeout_seconds if timeout is None else timeout
    config = Config(connect_timeout=timeout, read_timeout=timeout, max_pool_connections=connections,
                    retries={"total_max_attempts": retries, "mode": "standard"},
                    request_checksum_calculation="when_required", response_checksum_validation="when_required",
                    **({} if sign_payloads else {"s3": {"payload_signing_enabled": False}}))
    return boto3.client("s3", endpoint_url=s3.endpoint_url or None, region_name=s3.region or None, config=config)


def describe_error(exc: Exception, settings: Settings) -> tuple[ServiceState, str]:
    """One line for a boto3/botocore failure, naming bucket and endpoint."""
    from botocore import exceptions as bexc

    bucket = settings.s3.bucket
    endpoint = settings.s3.endpoint_url or "AWS"
    if isinstance(exc, (bexc.ConnectTimeoutError, bexc.ReadTimeoutError)):
        return ServiceState.TIMEOUT, f"S3 endpoint {endpoint} timed out"
    if isinstance(exc, bexc.EndpointConnectionError):
        return ServiceState.DOWN, f"cannot reach S3 endpoint {endpoint}"
    if isinstance(exc, bexc.NoCredentialsError):
        return ServiceState.DOWN, "no AWS credentials found (environment, ~/.aws or instance role)"
    if isinstance(exc, bexc.ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchBucket"):
            return ServiceState.DOWN, f"bucket '{bucket}' does not exist at {endpoint}"
        if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return ServiceState.DOWN, f"access denied to bucket '{bucket}' at {endpoint} ({code})"
        return ServiceState.DOWN, f"S3 error {code} for bucket '{bucket}' at {endpoint}"
    if isinstance(exc, bexc.BotoCoreError):
        return ServiceState.DOWN, f"S3 error at {endpoint}: {exc}"
    return ServiceState.DOWN, f"S3 error at {endpoint}: {type(exc).__name__}: {exc}"


def probe(settings: Settings) -> ProbeResult:
    s3 = settings.s3
    if not s3.bucket:
        return ProbeResult("s3", "s3", ServiceState.UNCONFIGURED, "no bucket configured (BACKUP_S3_BUCKET)")
    from botocore import exceptions as bexc

    watch = Stopwatch()
    try:
        client = make_client(settings)
        watch = Stopwatch()  # client creation is local work, not latency
        response = client.head_bucket(Bucket=s3.bucket)
        latency = watch.ms
    except (bexc.BotoCoreError, bexc.ClientError) as exc:
        state, detail = describe_error(exc, settings)
        return ProbeResult("s3", "s3", state, detail, watch.ms)
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    region = headers.get("x-amz-bucket-region") or client.meta.region_name
    metrics = {"bucket": s3.bucket, "region": region, "endpoint": s3.endpoint_url or "AWS",
               "prefix": s3.prefix, "storage_class": s3.storage_class}
    return ProbeResult("s3", "s3", ServiceState.UP, f"bucket {s3.bucket} reachable ({region})", latency, metrics)
