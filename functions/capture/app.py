"""Change capture: the customers table's stream, fanned out to one SQS queue per enabled vendor."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty_hub import partial
from loyalty_hub.logic import capture
from loyalty_hub.observability import logger, metrics


def record_handler(record: partial.Record) -> None:
    images = record.get("dynamodb") or {}
    change = capture.vendor_message(capture.image(images.get("NewImage")), capture.image(images.get("OldImage")))
    if change is None:
        metrics.add_metric(name="ChangesIgnored", unit=MetricUnit.Count, value=1)
        return
    vendors = capture.fan_out(capture.default_deps(), change)
    logger.info(
        "customer change queued for vendors",
        extra={"tenant": change.messages[0].tenant_id, "vendors": vendors, "fields": sorted(change.fields)},
    )
    metrics.add_metric(name="ChangesQueued", unit=MetricUnit.Count, value=len(vendors))


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> partial.Failures:
    # A failed record is retried from the stream (bisecting the batch); nothing after it is lost.
    return partial.stream(event["Records"], record_handler)
