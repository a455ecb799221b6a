"""What becomes of each message of a vendor batch: done, deferred, retried with backoff, or dead-lettered
(vendors.worker says when each applies); and the vendor metrics, one dimension set for all of them."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from loyalty_hub.dal import queues
from loyalty_hub.observability import logger, metric
from loyalty_hub.remote.backoff import BACKOFF_BASE_SECONDS, full_jitter
from loyalty_hub.remote.errors import RetryableError, VendorError
from loyalty_hub.rules.timestamps import format_timestamp

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

MAX_VISIBILITY_SECONDS = 43_200  # SQS's ceiling
MAX_DELAY_SECONDS = 900  # SQS's ceiling for DelaySeconds; a longer wait is deferred again
SQS_BATCH = queues.SQS_BATCH


@dataclass
class Outcome:
    sent: int = 0
    retried: int = 0
    deferred: int = 0
    dead_lettered: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)

    def response(self) -> dict[str, list[dict[str, str]]]:
        return {"batchItemFailures": self.failures}


def attempts_so_far(record: Mapping[str, Any]) -> int:
    """Failed attempts before this receive: those a deferred copy carries, and this copy's own receives."""
    carried = ((record.get("messageAttributes") or {}).get("attempts") or {}).get("stringValue")
    received = int(record["attributes"].get("ApproximateReceiveCount", "1"))
    return (int(carried) if carried and carried.isdigit() else 0) + received - 1


@dataclass
class Fates:
    """What happens to a message that was not delivered: deferred, retried, or dead-lettered."""

    sqs: "SQSClient"
    queue_url: str
    dlq_url: str
    vendor: str
    max_receives: int
    outcome: Outcome
    _deferred: list[tuple[dict[str, Any], float]] = field(default_factory=list)
    sends: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # for LastSends

    def __post_init__(self) -> None:
        self.dead_letter = _DeadLetters(self.sqs, self.dlq_url, self.vendor, self.outcome)

    def note(
        self, tenant_id: str, customer_id: str, status: str, attempt: int, error: VendorError | None = None
    ) -> None:
        entry: dict[str, Any] = {"at": format_timestamp(datetime.now(UTC)), "status": status, "attempt": attempt}
        if error is not None:
            entry |= {"reason": error.reason[:500], "http_status": error.status}
        self.sends[(tenant_id, customer_id)] = entry

    def fail(self, tenant_id: str, record: dict[str, Any], error: VendorError, customer_id: str = "") -> None:
        attempt = attempts_so_far(record) + 1
        if isinstance(error, RetryableError) and error.deferral:
            self.note(tenant_id, customer_id, "deferred", attempt, error)
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
        if isinstance(error, RetryableError) and attempt < self.max_receives:
            self.note(tenant_id, customer_id, "retrying", attempt, error)
            delay = error.retry_after if error.retry_after is not None else full_jitter(attempt)
            queues.delay(self.sqs, self.queue_url, record["receiptHandle"], min(MAX_VISIBILITY_SECONDS, round(delay)))
            self.outcome.failures.append({"itemIdentifier": record["messageId"]})
            self.outcome.retried += 1
            vendor_metric(self.vendor, tenant_id, "Retried", 1)
            return
        self.note(tenant_id, customer_id, "dead_lettered", attempt, error)
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
