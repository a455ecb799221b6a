"""Raw delivery archive (S3) and the ingest queue (SQS FIFO, one message group per tenant)."""

import hashlib
import re
from datetime import datetime
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from loyalty_hub.errors import Unavailable
from loyalty_hub.models.datasync import DeliveryPointer
from loyalty_hub.models.enrichment import EnrichmentUpdate

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9_.-]")


def archive_key(tenant_id: str, place_id: str, domain: str, received_at: datetime, sha256: str) -> str:
    """Content-addressed: the same body archived twice on one day lands on the same key."""
    place = _UNSAFE_KEY_CHARS.sub("_", place_id)
    safe_domain = _UNSAFE_KEY_CHARS.sub("_", domain)
    return f"raw/{tenant_id}/{place}/{safe_domain}/{received_at:%Y/%m/%d}/{sha256}.json"


def put_raw(s3: "S3Client", bucket: str, key: str, body: bytes, sha256_hex: str) -> None:
    try:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType="application/json",
            ChecksumAlgorithm="SHA256",
            Metadata={"sha256": sha256_hex},
        )
    except (ClientError, BotoCoreError) as exc:
        raise Unavailable("could not archive the delivery") from exc


def get_raw(s3: "S3Client", bucket: str, key: str) -> bytes:
    response = s3.get_object(Bucket=bucket, Key=key)
    return response["Body"].read()


def enqueue(sqs: "SQSClient", queue_url: str, pointer: DeliveryPointer) -> None:
    try:
        sqs.send_message(
            QueueUrl=queue_url,
            MessageBody=pointer.model_dump_json(),
            # One group per tenant: ingest is the single writer of a tenant's customers.
            MessageGroupId=pointer.tenant_id,
            MessageDeduplicationId=hashlib.sha256(pointer.key.encode()).hexdigest(),
        )
    except (ClientError, BotoCoreError) as exc:
        raise Unavailable("could not enqueue the delivery") from exc


def enqueue_enrichment(sqs: "SQSClient", queue_url: str, update: EnrichmentUpdate) -> None:
    """Onto the ingest queue, in the tenant's group: ingest stays the single writer of its customers."""
    identity = f"{update.tenant_id}|{update.customer_id}|{update.vendor}|{update.observed_at.isoformat()}"
    try:
        sqs.send_message(
            QueueUrl=queue_url,
            MessageBody=update.model_dump_json(),
            MessageGroupId=update.tenant_id,
            MessageDeduplicationId=hashlib.sha256(identity.encode()).hexdigest(),
        )
    except (ClientError, BotoCoreError) as exc:
        raise Unavailable("could not queue the enrichment for ingest") from exc
