"""Raw delivery archive (S3) and the ingest queue (SQS FIFO, one message group per tenant)."""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

from botocore.exceptions import BotoCoreError, ClientError

from loyalty_hub.errors import HubError, Unavailable
from loyalty_hub.models import structs
from loyalty_hub.models.datasync import DeliveryPointer
from loyalty_hub.models.enrichment import EnrichmentUpdate
from loyalty_hub.models.erasure import ErasureRequest

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient


def _segment(value: str) -> str:
    """Percent-encoding: one-to-one, and the identity for the id alphabet (models.ids), so keys of valid
    ids read as they are; no value can add a path level ('/') or climb one ('..')."""
    return quote(value, safe="").replace(".", "%2E")


def archive_key(tenant_id: str, place_id: str, domain: str, received_at: datetime, sha256: str) -> str:
    """Content-addressed: the same body archived twice on one day lands on the same key."""
    return f"raw/{_segment(tenant_id)}/{_segment(place_id)}/{_segment(domain)}/{received_at:%Y/%m/%d}/{sha256}.json"


@dataclass(frozen=True)
class ArchivedKey:
    tenant_id: str
    place_id: str
    domain: str
    received_on: date
    sha256: str


def parse_key(key: str) -> ArchivedKey:
    """The inverse of `archive_key`."""
    _, tenant, place, domain, year, month, day, name = key.split("/")
    received_on = date(int(year), int(month), int(day))
    return ArchivedKey(unquote(tenant), unquote(place), unquote(domain), received_on, name.removesuffix(".json"))


def put_raw(s3: "S3Client", bucket: str, key: str, body: bytes, sha256_hex: str, *, erased: bool = False) -> None:
    """`erased`: a rewrite by erasure; the key keeps the received body's hash, the metadata the object's own."""
    try:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType="application/json",
            ChecksumAlgorithm="SHA256",
            Metadata={"sha256": sha256_hex, **({"erased": "true"} if erased else {})},
        )
    except (ClientError, BotoCoreError) as exc:
        raise Unavailable(
            "could not rewrite the archived delivery" if erased else "could not archive the delivery"
        ) from exc


class ArchiveMissing(HubError):
    """The archived delivery is gone (deleted, or expired by the lifecycle rule): it cannot be ingested."""


def get_raw(s3: "S3Client", bucket: str, key: str) -> bytes:
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
        return response["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise ArchiveMissing(f"archived delivery {key} not found") from exc
        raise Unavailable("could not read the archived delivery") from exc
    except BotoCoreError as exc:
        raise Unavailable("could not read the archived delivery") from exc


def archive_delivery(
    s3: "S3Client",
    *,
    bucket: str,
    tenant_id: str,
    place_id: str,
    domain: str,
    body: bytes,
    entities: int,
    received_at: datetime,
) -> DeliveryPointer:
    """Archives a DataSync body under its content-addressed key; returns the pointer ingest reads it by.
    Then `enqueue(pointer)`: the one way a delivery enters the hub, pushed by Storyous or pulled."""
    sha256 = hashlib.sha256(body).hexdigest()
    key = archive_key(tenant_id, place_id, domain, received_at, sha256)
    put_raw(s3, bucket, key, body, sha256)
    return DeliveryPointer(
        tenant_id=tenant_id,
        place_id=place_id,
        domain=domain,
        bucket=bucket,
        key=key,
        sha256=sha256,
        received_at=received_at,
        entities=entities,
    )


def enqueue(sqs: "SQSClient", queue_url: str, pointer: DeliveryPointer, *, attempt: str = "") -> None:
    """`attempt` distinguishes a deliberate repeat (a quarantine retry) from a duplicate FIFO should drop."""
    identity = f"{pointer.key}|{attempt}" if attempt else pointer.key
    _send_ingest(sqs, queue_url, pointer.tenant_id, structs.to_json(pointer), identity=identity, what="the delivery")


def enqueue_enrichment(sqs: "SQSClient", queue_url: str, update: EnrichmentUpdate) -> None:
    identity = f"{update.tenant_id}|{update.customer_id}|{update.vendor}|{update.observed_at.isoformat()}"
    body = structs.to_json(update)
    _send_ingest(sqs, queue_url, update.tenant_id, body, identity=identity, what="the enrichment")


def enqueue_erasure(sqs: "SQSClient", queue_url: str, request: ErasureRequest) -> None:
    body = structs.to_json(request)
    _send_ingest(sqs, queue_url, request.tenant_id, body, identity=f"erasure|{request.request_id}", what="the erasure")


def _send_ingest(sqs: "SQSClient", queue_url: str, tenant_id: str, body: str, *, identity: str, what: str) -> None:
    """Onto the ingest FIFO queue in the tenant's group: ingest is the single writer of a tenant's customers."""
    try:
        sqs.send_message(
            QueueUrl=queue_url,
            MessageBody=body,
            MessageGroupId=tenant_id,
            MessageDeduplicationId=hashlib.sha256(identity.encode()).hexdigest(),
        )
    except (ClientError, BotoCoreError) as exc:
        raise Unavailable(f"could not queue {what} for ingest") from exc


@dataclass(frozen=True)
class Rewrite:
    outcome: str  # "rewritten", "unchanged" (nothing to remove), or "gone" (expired or deleted)
    versions_deleted: int = 0


def rewrite_raw(s3: "S3Client", bucket: str, key: str, transform: Callable[[bytes], bytes]) -> Rewrite:
    """Replaces the archived body under the same key (every pointer, quarantine record and appearance
    names it), then deletes every earlier version: the bucket is versioned, and an erased person must
    not live on in one (D47). Idempotent: a second run finds nothing to change and no old versions."""
    try:
        body = get_raw(s3, bucket, key)
    except ArchiveMissing:
        return Rewrite("gone", _delete_noncurrent(s3, bucket, key))
    changed = transform(body)
    outcome = "unchanged"
    if changed != body:
        put_raw(s3, bucket, key, changed, hashlib.sha256(changed).hexdigest(), erased=True)
        outcome = "rewritten"
    return Rewrite(outcome, _delete_noncurrent(s3, bucket, key))


def _delete_noncurrent(s3: "S3Client", bucket: str, key: str) -> int:
    deleted = 0
    try:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
            for version in (*page.get("Versions", []), *page.get("DeleteMarkers", [])):
                if version["Key"] == key and not version.get("IsLatest"):
                    s3.delete_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])
                    deleted += 1
    except (ClientError, BotoCoreError) as exc:
        raise Unavailable("could not delete earlier versions of the archived delivery") from exc
    return deleted
