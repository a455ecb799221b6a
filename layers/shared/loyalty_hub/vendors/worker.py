"""The worker every vendor shares: an SQS batch in, grouped per tenant, delivered, each message's fate out.

- success: the message is done;
- a deferral (our pacing, a vendor's Retry-After or 429, a run short of time): the message is sent
  again with that delay and its attempts unchanged, and the received copy is done, so waiting never
  counts towards the DLQ;
- RetryableError (network, timeout, 5xx): the message is made visible again after exponential backoff
  with full jitter and reported as a batch item failure; the function never sleeps;
- PermanentError (other 4xx, or a record that cannot be mapped), or the last allowed attempt: the
  message goes to the vendor's DLQ with the reason as message attributes, and an ERROR line says what
  to do. A vendor reports errors per message, so one refused record fails alone.

Attempts are counted across deferrals: a re-sent message carries the attempts made so far.
"""

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from loyalty_hub import aws
from loyalty_hub.dal import queues
from loyalty_hub.errors import NotFound
from loyalty_hub.models.vendor_message import VendorMessage
from loyalty_hub.observability import logger, metric, metrics
from loyalty_hub.remote.backoff import BACKOFF_BASE_SECONDS, full_jitter
from loyalty_hub.remote.errors import CredentialsRefused, PermanentError, RetryableError, VendorError, deferred

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

    from loyalty_hub.dal.tenants import TenantStore
    from loyalty_hub.models.tenant import Tenant

MAX_VISIBILITY_SECONDS = 43_200  # SQS's ceiling
MAX_DELAY_SECONDS = 900  # SQS's ceiling for DelaySeconds; a longer wait is deferred again
SQS_BATCH = queues.SQS_BATCH
# Work stops this long before the function's timeout: one vendor request (connect 3 s + read 10 s,
# vendors.http.TIMEOUT) and the deferral sends still fit.
TIME_MARGIN_SECONDS = 15.0


class Vendor(Protocol):
    name: str

    def deliver(
        self, tenant_id: str, messages: Sequence[VendorMessage], *, time_left: Callable[[], float]
    ) -> Mapping[int, VendorError] | None:
        """Send the latest state of these customers (one tenant). Raise VendorError when the whole group
        failed; return {index: error} for messages that failed on their own. Start nothing once
        `time_left()` is not positive: defer the rest (`errors.deferred`)."""


@dataclass
class Outcome:
    sent: int = 0
    retried: int = 0
    deferred: int = 0
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


def handle(
    event: dict[str, Any],
    vendor: Vendor,
    *,
    queue_url: str,
    dlq_url: str,
    max_receives: int,
    context: Any,
    margin_seconds: float = TIME_MARGIN_SECONDS,
) -> dict[str, Any]:
    """A vendor function's whole body: the batch through the framework, its outcome logged and counted."""
    outcome = process_batch(
        event,
        vendor,
        sqs=aws.client("sqs"),
        queue_url=queue_url,
        dlq_url=dlq_url,
        max_receives=max_receives,
        time_left=lambda: context.get_remaining_time_in_millis() / 1000 - margin_seconds,
    )
    metrics.add_metric(name="VendorBatches", unit=MetricUnit.Count, value=1)
    logger.info(
        f"{vendor.name} batch done",
        extra={
            "sent": outcome.sent,
            "retried": outcome.retried,
            "deferred": outcome.deferred,
            "dead_lettered": outcome.dead_lettered,
        },
    )
    return outcome.response()


def attempts_so_far(record: Mapping[str, Any]) -> int:
    """Failed attempts before this receive: those a deferred copy carries, and this copy's own receives."""
    carried = ((record.get("messageAttributes") or {}).get("attempts") or {}).get("stringValue")
    received = int(record["attributes"].get("ApproximateReceiveCount", "1"))
    return (int(carried) if carried and carried.isdigit() else 0) + received - 1


def process_batch(
    event: dict[str, Any],
    vendor: Vendor,
    *,
    sqs: "SQSClient",
    queue_url: str,
    dlq_url: str,
    max_receives: int,
    clock: Callable[[], float] = time.monotonic,
    time_left: Callable[[], float] = lambda: float("inf"),
) -> Outcome:
    """`time_left`: seconds this invocation may still start work in; at 0 the rest is deferred unprocessed."""
    outcome = Outcome()
    fates = _Fates(sqs, queue_url, dlq_url, vendor.name, max_receives, outcome)
    groups: dict[str, list[tuple[dict[str, Any], VendorMessage]]] = defaultdict(list)
    for record in event["Records"]:
        try:
            message = VendorMessage.model_validate_json(record["body"])
        except ValidationError as exc:
            fates.dead_letter(record, PermanentError(f"malformed message: {exc.errors()[0]['msg']}"))
            continue
        groups[message.tenant_id].append((record, message))

    for tenant_id, items in groups.items():
        started = clock()
        if time_left() <= 0:
            errors: Mapping[int, VendorError] = dict.fromkeys(range(len(items)), deferred("out of time"))
        else:
            try:
                errors = vendor.deliver(tenant_id, [message for _, message in items], time_left=time_left) or {}
            except Exception as exc:
                error = exc if isinstance(exc, VendorError) else RetryableError(f"{type(exc).__name__}: {exc}")
                errors = dict.fromkeys(range(len(items)), error)
        for index, error in errors.items():
            fates.fail(tenant_id, items[index][0], error)
        delivered = len(items) - len(errors)
        outcome.sent += delivered
        failed = sum(1 for e in errors.values() if not (isinstance(e, RetryableError) and e.deferral))
        if failed:
            vendor_metric(vendor.name, tenant_id, "Failed", failed)
        if any(isinstance(e, CredentialsRefused) for e in errors.values()):
            vendor_metric(vendor.name, "", "AuthFailed", 1)  # once per tenant and batch: the alarm's metric
            logger.error(
                f"{vendor.name} refused the tenant's credentials: fix its secret; messages are kept and retried",
                extra={"vendor": vendor.name, "tenant": tenant_id},
            )
        if delivered:
            vendor_metric(vendor.name, tenant_id, "Sent", delivered)
            vendor_metric(vendor.name, tenant_id, "LatencyMs", (clock() - started) * 1000, MetricUnit.Milliseconds)
    fates.flush_deferred()
    return outcome


@dataclass
class _Fates:
    """What happens to a message that was not delivered: deferred, retried, or dead-lettered."""

    sqs: "SQSClient"
    queue_url: str
    dlq_url: str
    vendor: str
    max_receives: int
    outcome: Outcome
    _deferred: list[tuple[dict[str, Any], float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.dead_letter = _DeadLetters(self.sqs, self.dlq_url, self.vendor, self.outcome)

    def fail(self, tenant_id: str, record: dict[str, Any], error: VendorError) -> None:
        if isinstance(error, RetryableError) and error.deferral:
            # Without a stated delay (a 429 that names none), wait one backoff step before coming back.
            delay = error.retry_after if error.retry_after is not None else BACKOFF_BASE_SECONDS
            self._deferred.append((record, delay))
            return
        logger.warning(
            "vendor delivery failed",
            extra={
                "vendor": self.vendor,
                "tenant": tenant_id,
                "reason": error.reason,
                "status": error.status,
                "retryable": isinstance(error, RetryableError),
            },
        )
        attempt = attempts_so_far(record) + 1
        if isinstance(error, RetryableError) and attempt < self.max_receives:
            delay = error.retry_after if error.retry_after is not None else full_jitter(attempt)
            queues.delay(self.sqs, self.queue_url, record["receiptHandle"], min(MAX_VISIBILITY_SECONDS, round(delay)))
            self.outcome.failures.append({"itemIdentifier": record["messageId"]})
            self.outcome.retried += 1
            vendor_metric(self.vendor, tenant_id, "Retried", 1)
            return
        self.dead_letter(record, error, attempts=attempt)

    def flush_deferred(self) -> None:
        """Sends the deferred messages again, ten per request; one that cannot be sent is handed back to
        SQS instead (a batch item failure), which is the only case where waiting costs an attempt."""
        for start in range(0, len(self._deferred), SQS_BATCH):
            chunk = self._deferred[start : start + SQS_BATCH]
            entries: list[SendMessageBatchRequestEntryTypeDef] = [
                {
                    "Id": str(i),
                    "MessageBody": record["body"],
                    "DelaySeconds": min(MAX_DELAY_SECONDS, max(0, round(delay))),
                    "MessageAttributes": _carried(record, attempts=attempts_so_far(record)),
                }
                for i, (record, delay) in enumerate(chunk)
            ]
            try:
                failed = queues.send_batch(self.sqs, self.queue_url, entries)
            except Exception:
                logger.exception("could not defer vendor messages; SQS retries them", extra={"vendor": self.vendor})
                failed = {entry["Id"] for entry in entries}
            for i, (record, _) in enumerate(chunk):
                if str(i) in failed:
                    self.outcome.failures.append({"itemIdentifier": record["messageId"]})
                else:
                    self.outcome.deferred += 1
        if self._deferred:
            vendor_metric(self.vendor, "", "Deferred", len(self._deferred))
        self._deferred.clear()


def _carried(record: Mapping[str, Any], *, attempts: int) -> dict[str, Any]:
    """The attributes a re-sent or dead-lettered message keeps: attempts so far, and reconcile's redrive
    count (so redrives stay bounded across cycles)."""
    attributes: dict[str, Any] = {"attempts": {"DataType": "Number", "StringValue": str(attempts)}}
    carried = record.get("messageAttributes") or {}
    for name in ("redrives", "previous_reason"):
        value = (carried.get(name) or {}).get("stringValue")
        if value:
            attributes[name] = {"DataType": carried[name].get("dataType", "String"), "StringValue": value}
    return attributes


@dataclass
class _DeadLetters:
    sqs: "SQSClient"
    dlq_url: str
    vendor: str
    outcome: Outcome

    def __call__(self, record: dict[str, Any], error: VendorError, *, attempts: int | None = None) -> None:
        attributes = _carried(record, attempts=attempts if attempts is not None else attempts_so_far(record) + 1)
        attributes["vendor"] = {"DataType": "String", "StringValue": self.vendor}
        attributes["reason"] = {"DataType": "String", "StringValue": error.reason[:1000] or "unknown"}
        if error.status is not None:
            attributes["status"] = {"DataType": "Number", "StringValue": str(error.status)}
        try:
            queues.send(self.sqs, self.dlq_url, record["body"], attributes)
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
