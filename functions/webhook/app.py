"""Storyous DataSync webhook: POST or PUT /webhooks/storyous/{merchantId}/{placeId}."""

from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty_hub.api import json_response, raw_body, register_error_handlers
from loyalty_hub.logic.webhook import accept_delivery, default_deps
from loyalty_hub.observability import logger, metrics

app = APIGatewayRestResolver()
register_error_handlers(app)


@app.route("/webhooks/storyous/<merchant_id>/<place_id>", method=["POST", "PUT"])
def receive(merchant_id: str, place_id: str) -> Response[str]:
    tenant_id, place = unquote(merchant_id), unquote(place_id)
    logger.append_keys(tenant=tenant_id, place=place)
    event = app.current_event
    accepted = accept_delivery(
        default_deps(),
        tenant_id=tenant_id,
        place_id=place,
        authorization=event.headers.get("authorization"),
        body=raw_body(event),
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
    return json_response(
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
    return app.resolve(event, context)
