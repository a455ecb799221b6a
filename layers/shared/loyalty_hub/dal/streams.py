"""DynamoDB Streams: the customers table's change records, read back by sequence number."""

from typing import Any

from botocore.exceptions import ClientError

from loyalty_hub.models.stream_failure import FailedBatch

# The stream no longer holds these records: the caller falls back to another way of finding them.
GONE_CODES = frozenset({"TrimmedDataAccessException", "ExpiredIteratorException", "ResourceNotFoundException"})
MAX_GET_RECORDS = 50  # a failed batch holds at most the mapping's BatchSize (100) records


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
