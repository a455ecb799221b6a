"""Standard SQS queues: many small messages sent ten per request, within SQS's size limit."""

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

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
        for _ in range(2):
            answer = sqs.send_message_batch(QueueUrl=url, Entries=entries)
            lost = {f["Id"] for f in answer.get("Failed", [])}
            entries = [entry for entry in entries if entry["Id"] in lost]
            if not entries:
                break
        failed += len(entries)
    return failed
