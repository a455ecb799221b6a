"""Storyous pull, on an EventBridge Scheduler schedule: bills changed since each place's cursor are
archived and queued for ingest like webhook deliveries. `{"tenant_id": "..."}` pulls one tenant only."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty_hub.logic import pull
from loyalty_hub.models import structs
from loyalty_hub.models.ids import TenantId
from loyalty_hub.observability import logger, metrics


class PullRequest(structs.Model, frozen=True, kw_only=True):
    """The schedule's input; anything else in it is ignored."""

    tenant_id: TenantId | None = None


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    request = structs.convert(PullRequest, event or {})
    report = pull.run(
        pull.default_deps(),
        lambda: context.get_remaining_time_in_millis() / 1000,
        tenant_id=request.tenant_id,
    )
    metrics.add_metric(name="PullRuns", unit=MetricUnit.Count, value=1)  # a missing run is alarmable
    return report.as_log()
