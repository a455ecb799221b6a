"""Capture failures: stream batches Lambda gave up on (MaximumRetryAttempts), resent to the vendors.

Lambda's on-failure destination receives only the batch's coordinates (AWS Lambda developer guide,
"Retaining records of asynchronous invocations / event source mapping destinations", the DynamoDB
example: `DDBStreamBatchInfo` with shardId, start/endSequenceNumber, approximateArrivalOf{First,Last}
Record, streamArn). The customers are read back from the stream by sequence number while it holds the
records (24 hours); after that, every customer whose `updated_at` falls in the batch's arrival window
(with a margin) is resent instead: more than needed, never fewer than the view changes the batch held.
Resending is always safe: vendors read the latest state (logic/resend.py).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.logic.customers import format_timestamp
from loyalty_hub.observability import logger

# The stream no longer holds these records: fall back to the time window.
GONE_CODES = frozenset({"TrimmedDataAccessException", "ExpiredIteratorException", "ResourceNotFoundException"})
WINDOW_MARGIN = timedelta(minutes=5)
MAX_GET_RECORDS = 50  # a failed batch holds at most the mapping's BatchSize (100) records


@dataclass(frozen=True)
class FailedBatch:
    stream_arn: str
    shard_id: str
    start: int
    end: int
    first_arrival: datetime
    last_arrival: datetime

    @classmethod
    def parse(cls, body: str) -> "FailedBatch | None":
        """The batch a failure record names, or None for a message that is not one."""
        try:
            info: Mapping[str, Any] = orjson.loads(body)["DDBStreamBatchInfo"]
            return cls(
                stream_arn=str(info["streamArn"]),
                shard_id=str(info["shardId"]),
                start=int(info["startSequenceNumber"]),
                end=int(info["endSequenceNumber"]),
                first_arrival=datetime.fromisoformat(str(info["approximateArrivalOfFirstRecord"])),
                last_arrival=datetime.fromisoformat(str(info["approximateArrivalOfLastRecord"])),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None


def customers_in_stream(streams: Any, batch: FailedBatch) -> dict[str, set[str]] | None:
    """tenant -> customer ids of the batch's records, read from the stream; None once it no longer has them."""
    try:
        iterator = streams.get_shard_iterator(
            StreamArn=batch.stream_arn,
            ShardId=batch.shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=str(batch.start),
        ).get("ShardIterator")
        found: dict[str, set[str]] = {}
        for _ in range(MAX_GET_RECORDS):
            if not iterator:
                break
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            for record in page.get("Records", []):
                if int(record["dynamodb"]["SequenceNumber"]) > batch.end:
                    return found
                tenant_id, _, customer_id = record["dynamodb"]["Keys"]["pk"]["S"].partition("#")
                found.setdefault(tenant_id, set()).add(customer_id)
            if not page.get("Records"):
                break
            iterator = page.get("NextShardIterator")
        return found
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in GONE_CODES:
            return None
        raise
    except BotoCoreError:
        raise


def customers_in_window(customers: CustomerStore, tenant_ids: list[str], batch: FailedBatch) -> dict[str, set[str]]:
    """tenant -> customers updated within the batch's arrival window, widened by WINDOW_MARGIN."""
    start = format_timestamp(batch.first_arrival - WINDOW_MARGIN)
    end = format_timestamp(batch.last_arrival + WINDOW_MARGIN)
    found: dict[str, set[str]] = {}
    for tenant_id in tenant_ids:
        ids = customers.ids_updated_between(tenant_id, start, end)
        if ids:
            found[tenant_id] = set(ids)
    logger.warning(
        "capture failure older than the stream's 24 h: resending every customer updated in its window",
        extra={"shard": batch.shard_id, "window": [start, end], "customers": sum(len(v) for v in found.values())},
    )
    return found
