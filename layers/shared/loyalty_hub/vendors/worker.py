"""The worker every vendor shares: an SQS batch in, grouped per tenant, delivered, each message's fate out.

- success: the message is done;
- RetryableError (network, timeout, 5xx, 429): the message is made visible again after the vendor's
  Retry-After, or exponential backoff with full jitter, and reported as a batch item failure; the
  function never sleeps;
- PermanentError (other 4xx), or the last allowed attempt: the message goes to the vendor's DLQ with
  the reason as message attributes, and an ERROR log line says what to do.
"""

import random
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, Field, ValidationError

from loyalty_hub import aws
from loyalty_hub.errors import NotFound
from loyalty_hub.observability import logger, metric, metrics
from loyalty_hub.vendors.errors import PermanentError, RetryableError, VendorError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from loyalty_hub.dal.tenants import TenantStore
    from loyalty_hub.models.tenant import Tenant

BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 900.0
MAX_VISIBILITY_SECONDS = 43_200  # SQS's ceiling


class VendorMessage(BaseModel):
    """A customer changed: the vendor reads its latest state when sending, so repeats are harmless."""

    tenant_id: str
    customer_id: str
    bill_ids: list[str] = Field(default_factory=list)


class Vendor(Protocol):
    name: str

    def deliver(self, tenant_id: str, messages: Sequence[VendorMessage]) -> Mapping[int, VendorError] | None:
        """Send the latest state of these customers (one tenant). Raise VendorError when the whole group
        failed; return {index: error} for messages that failed on their own."""


@dataclass
class Outcome:
    sent: int = 0
    retried: int = 0
    dead_lettered: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)

    def response(self) -> dict[str, list[dict[str, str]]]:
        return {"batchItemFailures": self.failures}


def tenant_vendor_settings(tenants: "TenantStore", tenant_id: str, vendor: str) -> tuple["Tenant", Any] | None:
    """The tenant and its settings for `vendor`, or None when it is not enabled (its changes are dropped)."""
    try:
        tenant = tenants.get(tenant_id)
    except NotFound as exc:
        raise PermanentError(f"unknown tenant {tenant_id}") from exc
    settings = getattr(tenant.vendors, vendor)
    if settings is None or not settings.enabled:
        logger.info(f"{vendor} is not enabled for the tenant; changes dropped", extra={"tenant": tenant_id})
        return None
    return tenant, settings


def handle(event: dict[str, Any], vendor: Vendor, *, queue_url: str, dlq_url: str, max_receives: int) -> dict[str, Any]:
    """A vendor function's whole body: the batch through the framework, its outcome logged and counted."""
    outcome = process_batch(
        event, vendor, sqs=aws.client("sqs"), queue_url=queue_url, dlq_url=dlq_url, max_receives=max_receives
    )
    metrics.add_metric(name="VendorBatches", unit=MetricUnit.Count, value=1)
    logger.info(
        f"{vendor.name} batch done",
        extra={"sent": outcome.sent, "retried": outcome.retried, "dead_lettered": outcome.dead_lettered},
    )
    return outcome.response()


def full_jitter(attempt: int, rng: Callable[[float, float], float] = random.uniform) -> float:
    return rng(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt))


def process_batch(
    event: dict[str, Any],
    vendor: Vendor,
    *,
    sqs: "SQSClient",
    queue_url: str,
    dlq_url: str,
    max_receives: int,
    clock: Callable[[], float] = time.monotonic,
) -> Outcome:
    outcome = Outcome()
    dead_letter = _DeadLetters(sqs, dlq_url, vendor.name, outcome)
    groups: dict[str, list[tuple[dict[str, Any], VendorMessage]]] = defaultdict(list)
    for record in event["Records"]:
        try:
            message = VendorMessage.model_validate_json(record["body"])
        except ValidationError as exc:
            dead_letter(record, PermanentError(f"malformed message: {exc.errors()[0]['msg']}"))
            continue
        groups[message.tenant_id].append((record, message))

    def fail(tenant_id: str, record: dict[str, Any], error: VendorError) -> None:
        if isinstance(error, RetryableError):
            attempt = int(record["attributes"].get("ApproximateReceiveCount", "1"))
            if attempt < max_receives:
                delay = error.retry_after if error.retry_after is not None else full_jitter(attempt)
                sqs.change_message_visibility(
                    QueueUrl=queue_url,
                    ReceiptHandle=record["receiptHandle"],
                    VisibilityTimeout=min(MAX_VISIBILITY_SECONDS, round(delay)),
                )
                outcome.failures.append({"itemIdentifier": record["messageId"]})
                outcome.retried += 1
                vendor_metric(vendor.name, tenant_id, "Retried", 1)
                return
        dead_letter(record, error)

    for tenant_id, items in groups.items():
        started = clock()
        try:
            errors = vendor.deliver(tenant_id, [message for _, message in items]) or {}
        except Exception as exc:
            error = exc if isinstance(exc, VendorError) else RetryableError(f"{type(exc).__name__}: {exc}")
            errors = dict.fromkeys(range(len(items)), error)
        for index, error in errors.items():
            logger.warning(
                "vendor delivery failed",
                extra={
                    "vendor": vendor.name,
                    "tenant": tenant_id,
                    "reason": error.reason,
                    "status": error.status,
                    "retryable": isinstance(error, RetryableError),
                },
            )
            fail(tenant_id, items[index][0], error)
        delivered = len(items) - len(errors)
        outcome.sent += delivered
        if errors:
            vendor_metric(vendor.name, tenant_id, "Failed", len(errors))
        if delivered:
            vendor_metric(vendor.name, tenant_id, "Sent", delivered)
            vendor_metric(vendor.name, tenant_id, "LatencyMs", (clock() - started) * 1000, MetricUnit.Milliseconds)
    return outcome


@dataclass
class _DeadLetters:
    sqs: "SQSClient"
    dlq_url: str
    vendor: str
    outcome: Outcome

    def __call__(self, record: dict[str, Any], error: VendorError) -> None:
        attributes = {
            "vendor": {"DataType": "String", "StringValue": self.vendor},
            "reason": {"DataType": "String", "StringValue": error.reason[:1000] or "unknown"},
            "attempts": {"DataType": "Number", "StringValue": record["attributes"].get("ApproximateReceiveCount", "1")},
        }
        if error.status is not None:
            attributes["status"] = {"DataType": "Number", "StringValue": str(error.status)}
        # Reconcile's redrive count travels with the message, so redrives stay bounded across cycles.
        carried = record.get("messageAttributes") or {}
        for name in ("redrives", "previous_reason"):
            value = (carried.get(name) or {}).get("stringValue")
            if value:
                attributes[name] = {"DataType": carried[name].get("dataType", "String"), "StringValue": value}
        try:
            self.sqs.send_message(QueueUrl=self.dlq_url, MessageBody=record["body"], MessageAttributes=attributes)  # type: ignore[arg-type]
        except Exception:
            logger.exception(
                "could not dead-letter a vendor message; it stays in the queue", extra={"vendor": self.vendor}
            )
            self.outcome.failures.append({"itemIdentifier": record["messageId"]})
            return
        self.outcome.dead_lettered += 1
        logger.error(
            "vendor message dead-lettered: fix the cause, then redrive the DLQ",
            extra={
                "vendor": self.vendor,
                "reason": error.reason,
                "status": error.status,
                "message_id": record["messageId"],
            },
        )
        vendor_metric(self.vendor, "", "DeadLettered", 1)


def vendor_metric(vendor: str, tenant_id: str, name: str, value: float, unit: MetricUnit = MetricUnit.Count) -> None:
    metric(name, value, unit, vendor=vendor, tenant=tenant_id)
