"""SQS: every call the functions make to a queue. Batches are ten messages, within SQS's size limit."""

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

SQS_BATCH = 10
MAX_BATCH_BYTES = 256 * 1024  # SendMessageBatch's limit on the sum of its bodies


def _batches(bodies: Sequence[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    size = 0
    for body in bodies:
        length = len(body.encode())
        if batch and (len(batch) == SQS_BATCH or size + length > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(body)
        size += length
    if batch:
        yield batch


def send_all(sqs: "SQSClient", url: str, bodies: Iterable[str]) -> int:
    """Sends every body, retrying once what a batch reports failed; returns how many still failed."""
    failed = 0
    for batch in _batches(list(bodies)):
        entries: list[Any] = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(batch)]
        failed += len(send_batch(sqs, url, entries))
    return failed


def send(sqs: "SQSClient", url: str, body: str, attributes: dict[str, Any] | None = None) -> None:
    if attributes:
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attributes)
    else:
        sqs.send_message(QueueUrl=url, MessageBody=body)


def send_batch(sqs: "SQSClient", url: str, entries: Sequence["SendMessageBatchRequestEntryTypeDef"]) -> set[str]:
    """Up to ten entries, those SQS reports failed retried once; returns the ids that still failed."""
    failed = {f["Id"] for f in sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed", [])}
    if failed:
        again = [entry for entry in entries if entry["Id"] in failed]
        failed = {f["Id"] for f in sqs.send_message_batch(QueueUrl=url, Entries=again).get("Failed", [])}
    return failed


def depth(sqs: "SQSClient", url: str) -> int:
    """Messages in the queue, visible or not."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes.get("ApproximateNumberOfMessages", 0)) + int(
        attributes.get("ApproximateNumberOfMessagesNotVisible", 0)
    )


def receive(sqs: "SQSClient", url: str, *, visibility: int, wait: int, with_attributes: bool = False) -> list[Any]:
    """Up to ten messages, hidden for `visibility` seconds; with their attributes when asked."""
    extra: dict[str, Any] = {}
    if with_attributes:
        extra = {
            "MessageAttributeNames": ["All"],
            "MessageSystemAttributeNames": ["SentTimestamp", "ApproximateReceiveCount"],
        }
    answer = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=SQS_BATCH, VisibilityTimeout=visibility, WaitTimeSeconds=wait, **extra
    )
    return list(answer.get("Messages", []))


def delete(sqs: "SQSClient", url: str, receipt: str) -> None:
    sqs.delete_message(QueueUrl=url, ReceiptHandle=receipt)


def delete_batch(sqs: "SQSClient", url: str, receipts: Sequence[str]) -> list[int]:
    """Up to ten messages deleted; returns the indexes SQS could not delete."""
    entries: list[Any] = [{"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(receipts)]
    return [int(f["Id"]) for f in sqs.delete_message_batch(QueueUrl=url, Entries=entries).get("Failed", [])]


def show_again(sqs: "SQSClient", url: str, receipts: Sequence[str], after_seconds: int = 0) -> None:
    """Makes received messages visible again after `after_seconds`, ten per request."""
    for start in range(0, len(receipts), SQS_BATCH):
        chunk = receipts[start : start + SQS_BATCH]
        entries: list[Any] = [
            {"Id": str(i), "ReceiptHandle": r, "VisibilityTimeout": after_seconds} for i, r in enumerate(chunk)
        ]
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)


def delay(sqs: "SQSClient", url: str, receipt: str, seconds: int) -> None:
    """One received message made visible again in `seconds` (SQS's ceiling is 12 hours)."""
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=seconds)
