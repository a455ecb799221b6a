"""DailyStory customer API (Basic Integration Pattern): GET /api/v1/customer/{id}, GET /api/v1/customers."""

import functools
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty_hub.api import OPENAPI_PATH, Request, Response, Router, rejected
from loyalty_hub.errors import Unauthorized
from loyalty_hub.logic import customer_api
from loyalty_hub.models import structs
from loyalty_hub.models.tenant import Tenant
from loyalty_hub.observability import logger, metrics

# Written by `make openapi` from the models and the query's limits; a test keeps it current.
OPENAPI_DOCUMENT = Path(__file__).with_name("openapi.json")
CHALLENGE = {"WWW-Authenticate": 'Basic realm="loyalty-hub", Bearer realm="loyalty-hub"'}

router = Router()


def authenticated(route: Callable[..., Response]) -> Callable[..., Response]:
    """The route with the tenant whose DailyStory key (Basic or Bearer) the request carries, or a 401
    with the challenge before the route runs."""

    @functools.wraps(route)
    def checked(request: Request, **params: str) -> Response:
        try:
            tenant = customer_api.authenticate(customer_api.default_deps(), request.header("authorization"))
        except Unauthorized as exc:
            return rejected(HTTPStatus.UNAUTHORIZED, str(exc), CHALLENGE)
        logger.append_keys(tenant=tenant.tenant_id)
        return route(request, tenant, **params)

    return checked


@router.route("/api/v1/customer/{customer_id}", "GET")
@authenticated
def get_customer(_: Request, tenant: Tenant, customer_id: str) -> Response:
    record = customer_api.get_customer(customer_api.default_deps(), tenant, customer_id)
    metrics.add_metric(name="RecordsServed", unit=MetricUnit.Count, value=1)
    return Response(HTTPStatus.OK, structs.to_plain(record))


@router.route("/api/v1/customers", "GET")
@authenticated
def list_customers(request: Request, tenant: Tenant) -> Response:
    query = customer_api.ListQuery.read(request.query)
    page = customer_api.list_customers(customer_api.default_deps(), tenant, query)
    metrics.add_metric(name="RecordsServed", unit=MetricUnit.Count, value=len(page.records))
    return Response(HTTPStatus.OK, structs.to_plain(page))


@router.route(OPENAPI_PATH, "GET")
def openapi(_: Request) -> Response:
    metrics.add_metric(name="OpenApiServed", unit=MetricUnit.Count, value=1)
    return Response(HTTPStatus.OK, OPENAPI_DOCUMENT.read_bytes())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return router.resolve(event)
