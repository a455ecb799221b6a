"""Capture failures: stream batches Lambda gave up on (MaximumRetryAttempts), resent to the vendors.

Lambda's on-failure destination receives only the batch's coordinates (AWS Lambda developer guide,
"Retaining records of asynchronous invocations / event source mapping destinations", the DynamoDB
example: `DDBStreamBatchInfo` with shardId, start/endSequenceNumber, approximateArrivalOf{First,Last}
Record, streamArn). The customers are read back from the stream by sequence number while it holds the
records (24 hours); after that, every customer whose `updated_at` falls in the batch's arrival window
(with a margin) is resent instead: more than needed, never fewer than the view changes the batch held.
Resending is always safe: vendors read the latest state (logic/resend.py).
"""

from datetime import timedelta

from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.models.stream_failure import FailedBatch
from loyalty_hub.observability import logger
from loyalty_hub.rules.timestamps import format_timestamp

WINDOW_MARGIN = timedelta(minutes=5)


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
