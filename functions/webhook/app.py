"""Storyous DataSync webhook: POST or PUT /webhooks/storyous/{merchantId}/{placeId}."""

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty_hub.api import Request, Response, Router
from loyalty_hub.logic.webhook import accept_delivery, default_deps
from loyalty_hub.observability import logger, metrics

router = Router()


@router.route("/webhooks/storyous/{merchant_id}/{place_id}", "POST", "PUT")
def receive(request: Request, merchant_id: str, place_id: str) -> Response:
    logger.append_keys(tenant=merchant_id, place=place_id)
    accepted = accept_delivery(
        default_deps(),
        tenant_id=merchant_id,
        place_id=place_id,
        authorization=request.header("authorization"),
        body=request.body(),
    )
    logger.info(
        "delivery accepted",
        extra={
            "domain": accepted.domain,
            "delivery_id": accepted.delivery_id,
            "entities": accepted.entities,
            "archived": accepted.archived_key is not None,
        },
    )
    metrics.add_metric(name="DeliveriesAccepted", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="EntitiesReceived", unit=MetricUnit.Count, value=accepted.entities)
    if not accepted.known_domain:
        logger.warning("unknown data domain accepted and archived", extra={"domain": accepted.domain})
        metrics.add_metric(name="UnknownDomainDeliveries", unit=MetricUnit.Count, value=1)
    return Response(
        HTTPStatus.OK,
        {
            "status": "accepted",
            "deliveryId": accepted.delivery_id,
            "dataDomain": accepted.domain,
            "entities": accepted.entities,
        },
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return router.resolve(event)
