"""Change capture: the customers table's stream, fanned out to one SQS queue per enabled vendor."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty_hub.logic import capture
from loyalty_hub.observability import logger, metrics

# A failed record is retried from the stream (bisecting the batch); nothing after it is lost.
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def record_handler(record: DynamoDBRecord) -> None:
    stream = record.dynamodb
    change = capture.vendor_message(stream.new_image if stream else None, stream.old_image if stream else None)
    if change is None:
        metrics.add_metric(name="ChangesIgnored", unit=MetricUnit.Count, value=1)
        return
    vendors = capture.fan_out(capture.default_deps(), change)
    logger.info(
        "customer change queued for vendors",
        extra={"tenant": change.message.tenant_id, "vendors": vendors, "fields": sorted(change.fields)},
    )
    metrics.add_metric(name="ChangesQueued", unit=MetricUnit.Count, value=len(vendors))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
