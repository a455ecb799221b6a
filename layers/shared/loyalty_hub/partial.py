"""Partial batch responses (ReportBatchItemFailures) for the SQS and DynamoDB Streams event sources.

Written out rather than Powertools' batch processors: those import asyncio, the event data classes and,
for typed records, the parser models, 55-90 ms of every cold start for a loop of a dozen lines (D43).
Semantics kept: a failed record is reported with its identifier and logged; a batch in which every record
failed raises, so the invocation counts as an error and the whole batch is retried.
"""

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from loyalty_hub.observability import logger

Record = Mapping[str, Any]
Failures = dict[str, list[dict[str, str]]]


class AllRecordsFailed(Exception):
    """Every record of the batch failed: the invocation fails and Lambda retries the batch."""


def fifo_queue(records: Iterable[Record], handle: Callable[[Record], None]) -> Failures:
    """SQS FIFO: a failed message fails every later message of its group unprocessed, so a group's order
    holds; other groups go on."""
    failed_groups: set[str] = set()
    failures, count = [], 0
    for record in records:
        count += 1
        group = record.get("attributes", {}).get("MessageGroupId", "")
        if group in failed_groups or not _handled(record, handle, record["messageId"]):
            failed_groups.add(group)
            failures.append({"itemIdentifier": record["messageId"]})
    return _response(failures, count)


def stream(records: Iterable[Record], handle: Callable[[Record], None]) -> Failures:
    """DynamoDB Streams: every record is handled and each failed one reported; Lambda resumes the shard
    from the lowest failed one, and what is handled twice is harmless (messages carry only ids)."""
    failures, count = [], 0
    for record in records:
        count += 1
        sequence = record["dynamodb"]["SequenceNumber"]
        if not _handled(record, handle, sequence):
            failures.append({"itemIdentifier": sequence})
    return _response(failures, count)


def _handled(record: Record, handle: Callable[[Record], None], identifier: str) -> bool:
    try:
        handle(record)
    except Exception as exc:
        logger.exception(
            "record failed; reported for retry", extra={"record": identifier, "error_class": type(exc).__name__}
        )
        return False
    return True


def _response(failures: list[dict[str, str]], count: int) -> Failures:
    if count and len(failures) == count:
        raise AllRecordsFailed(f"all {count} records of the batch failed")
    return {"batchItemFailures": failures}
