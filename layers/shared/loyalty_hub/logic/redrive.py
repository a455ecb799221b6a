"""Vendor dead letters, each given its fate: redriven when due (with exponential backoff per redrive),
left waiting, or left for a person (refused content, or redriven too often). Sends first and deletes
second: a crash in between duplicates a message, which vendors tolerate, and never loses one."""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from loyalty_hub.config import ReconcileSettings
from loyalty_hub.dal import queues
from loyalty_hub.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

# 4xx answers that can pass on a later try (credentials, timeouts, rate limits); any other 4xx means
# the vendor refused the content, and sending it again cannot help.
RETRYABLE_CLIENT_STATUSES = frozenset({401, 403, 408, 429})
SQS_DEAD_LETTER_REASON = "dead-lettered by SQS after maxReceiveCount"
# Lambda's longest run, so one run never receives the same dead letter twice.
RECEIVE_VISIBILITY_SECONDS = 900
MAX_RECEIVED_PER_QUEUE = 1000


class Fate(StrEnum):
    REDRIVE = "redrive"
    WAITING = "waiting"
    EXHAUSTED = "exhausted"
    NEEDS_ATTENTION = "needs_attention"


@dataclass
class RedriveCounts:
    redriven: int = 0
    waiting: int = 0
    exhausted: int = 0
    needs_attention: int = 0
    failed: int = 0  # due, but not sent back: still in the DLQ, tried again next run


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    receipt_handle: str
    body: str
    reason: str | None
    status: int | None
    redrives: int
    sent_at: datetime
    receives: int  # SQS's ApproximateReceiveCount: roughly, how many runs have looked at it

    @classmethod
    def from_sqs(cls, message: Mapping[str, Any]) -> "DeadLetter":
        attributes = message.get("MessageAttributes") or {}
        system = message.get("Attributes") or {}

        def value(name: str) -> str | None:
            return (attributes.get(name) or {}).get("StringValue")

        return cls(
            message_id=message["MessageId"],
            receipt_handle=message["ReceiptHandle"],
            body=message["Body"],
            reason=value("reason"),
            status=_int(value("status")),
            redrives=_int(value("redrives")) or 0,
            sent_at=datetime.fromtimestamp(int(system.get("SentTimestamp", "0")) / 1000, UTC),
            receives=_int(system.get("ApproximateReceiveCount")) or 1,
        )


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def fate(letter: DeadLetter, now: datetime, *, max_attempts: int, backoff_seconds: int) -> Fate:
    status = letter.status
    if status is not None and 400 <= status < 500 and status not in RETRYABLE_CLIENT_STATUSES:
        return Fate.NEEDS_ATTENTION
    if letter.redrives >= max_attempts:
        return Fate.EXHAUSTED
    if now - letter.sent_at < timedelta(seconds=backoff_seconds * 4**letter.redrives):
        return Fate.WAITING
    return Fate.REDRIVE


@dataclass
class Redrive:
    """One vendor's dead letters, each given its fate; what stays is made visible again at the end."""

    sqs: "SQSClient"
    settings: ReconcileSettings
    receive_wait_seconds: int
    vendor: str
    dlq_url: str
    queue_url: str
    counts: RedriveCounts = field(default_factory=RedriveCounts)
    left: list[DeadLetter] = field(default_factory=list)

    def run(self, now: datetime, has_time: Callable[[], bool]) -> str | None:
        """Returns why the queue was not finished, if it was not."""
        received = 0
        try:
            while True:
                if received >= MAX_RECEIVED_PER_QUEUE:
                    return f"per-run cap of {MAX_RECEIVED_PER_QUEUE} reached"
                if not has_time():
                    return "out of time"
                messages = queues.receive(
                    self.sqs,
                    self.dlq_url,
                    visibility=RECEIVE_VISIBILITY_SECONDS,
                    wait=self.receive_wait_seconds,
                    with_attributes=True,
                )
                if not messages:
                    return None
                received += len(messages)
                due = [letter for letter in map(DeadLetter.from_sqs, messages) if self._judge(letter, now)]
                if due:
                    self._send_back(due)
        finally:
            self._show_again()

    def _judge(self, letter: DeadLetter, now: datetime) -> bool:
        """Counts the letter's fate; True when it is to be redriven now."""
        settings = self.settings
        verdict = fate(
            letter, now, max_attempts=settings.REDRIVE_MAX_ATTEMPTS, backoff_seconds=settings.REDRIVE_BACKOFF_SECONDS
        )
        if verdict is Fate.REDRIVE:
            return True
        self.left.append(letter)
        if verdict is Fate.WAITING:
            self.counts.waiting += 1
            return False
        if verdict is Fate.EXHAUSTED:
            self.counts.exhausted += 1
        else:
            self.counts.needs_attention += 1
        _warn_stuck(self.vendor, letter, verdict, settings.REDRIVE_MAX_ATTEMPTS)
        return False

    def _send_back(self, due: Sequence[DeadLetter]) -> None:
        """Sends `due` to the vendor queue, then deletes from the DLQ what was sent."""
        entries: list[SendMessageBatchRequestEntryTypeDef] = [
            {
                "Id": str(i),
                "MessageBody": letter.body,
                "MessageAttributes": {
                    "redrives": {"DataType": "Number", "StringValue": str(letter.redrives + 1)},
                    "previous_reason": {
                        "DataType": "String",
                        "StringValue": (letter.reason or SQS_DEAD_LETTER_REASON)[:1000],
                    },
                },
            }
            for i, letter in enumerate(due)
        ]
        try:
            failed = queues.send_batch(self.sqs, self.queue_url, entries)
        except Exception:
            logger.exception("could not redrive dead letters; they stay in the DLQ", extra={"vendor": self.vendor})
            failed = {entry["Id"] for entry in entries}
        sent = [letter for i, letter in enumerate(due) if str(i) not in failed]
        stays = [letter for i, letter in enumerate(due) if str(i) in failed]
        self.counts.redriven += len(sent)
        self.counts.failed += len(stays)
        self.left += stays
        if stays:
            logger.warning(
                "some dead letters could not be redriven; they stay in the DLQ for the next run",
                extra={"vendor": self.vendor, "message_ids": [letter.message_id for letter in stays]},
            )
        if sent:
            self._delete(sent)

    def _delete(self, sent: Sequence[DeadLetter]) -> None:
        try:
            undeleted = queues.delete_batch(self.sqs, self.dlq_url, [letter.receipt_handle for letter in sent])
            failed = [sent[i].message_id for i in undeleted]
        except Exception:
            logger.exception("redriven dead letters could not be deleted", extra={"vendor": self.vendor})
            failed = [letter.message_id for letter in sent]
        if failed:
            # Harmless: the next run redrives them again, a duplicate the vendor worker tolerates.
            logger.warning(
                "redriven dead letters are still in the DLQ and will be sent again",
                extra={"vendor": self.vendor, "message_ids": failed},
            )

    def _show_again(self) -> None:
        """What stays is made visible now: the DLQ alarms watch visible messages and would flap otherwise."""
        try:
            queues.show_again(self.sqs, self.dlq_url, [letter.receipt_handle for letter in self.left])
        except Exception:
            # They become visible on their own once the receive's visibility timeout ends.
            logger.exception("could not make dead letters visible again", extra={"vendor": self.vendor})


def _warn_stuck(vendor: str, letter: DeadLetter, verdict: Fate, max_attempts: int) -> None:
    if verdict is Fate.NEEDS_ATTENTION:
        message = (
            "dead letter needs a person: the vendor refused its content. Fix the customer data or the mapping "
            "its reason names, then move it back to the vendor queue, or delete it"
        )
    else:
        message = (
            f"dead letter redriven {max_attempts} times and still failing: find the cause from its reason, "
            "then move it back to the vendor queue, or delete it"
        )
    logger.warning(
        message,
        extra={
            "vendor": vendor,
            "reason": letter.reason or SQS_DEAD_LETTER_REASON,
            "status": letter.status,
            "message_id": letter.message_id,
            "redrives": letter.redrives,
            "receives": letter.receives,
            "fate": verdict.value,
        },
    )
