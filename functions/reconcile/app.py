"""Reconcile, on an EventBridge Scheduler schedule: dead-letter depth, due redrives, Voyado refresh."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty_hub.logic import reconcile
from loyalty_hub.observability import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The schedule's input ({"job": "reconcile"}) only names the job; every run does the same work.
    report = reconcile.run(reconcile.default_deps(), lambda: context.get_remaining_time_in_millis() / 1000)
    metrics.add_metric(name="ReconcileRuns", unit=MetricUnit.Count, value=1)  # its absence says the job stopped
    return report.as_log()
