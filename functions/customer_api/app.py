"""DailyStory customer API (Basic Integration Pattern): GET /api/v1/customer/{id}, GET /api/v1/customers."""

from http import HTTPStatus
from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from loyalty_hub.api import OPENAPI_PATH, error_response, json_response, openapi_document, register_error_handlers
from loyalty_hub.errors import Unauthorized
from loyalty_hub.logic import customer_api
from loyalty_hub.models.customer import ApiError, CustomerRecord, CustomersPage
from loyalty_hub.observability import logger, metrics

app = APIGatewayRestResolver(enable_validation=True)
register_error_handlers(app)


def _json(description: str, model: type[BaseModel]) -> OpenAPIResponse:
    return {"description": description, "content": {"application/json": {"model": model}}}


def _error(description: str) -> OpenAPIResponse:
    return _json(description, ApiError)


_ERRORS: dict[int, OpenAPIResponse] = {
    400: _error("A query parameter is invalid; the error names it"),
    401: _error("Missing or wrong credentials"),
    503: _error("A dependency failed; retry later"),
}
_CHALLENGE = {"WWW-Authenticate": 'Basic realm="loyalty-hub", Bearer realm="loyalty-hub"'}


def authenticate(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """Every route but the OpenAPI document needs a tenant's DailyStory key (Basic or Bearer)."""
    if app.current_event.path == OPENAPI_PATH:
        return next_middleware(app)
    try:
        tenant = customer_api.authenticate(customer_api.default_deps(), app.current_event.headers.get("authorization"))
    except Unauthorized as exc:
        metrics.add_metric(name="RequestsRejected", unit=MetricUnit.Count, value=1)
        logger.info("request rejected", extra={"status": 401, "reason": str(exc)})
        return error_response(
            HTTPStatus.UNAUTHORIZED,
            str(exc),
            {"WWW-Authenticate": 'Basic realm="loyalty-hub", Bearer realm="loyalty-hub"'},
        )
    logger.append_keys(tenant=tenant.tenant_id)
    app.append_context(tenant=tenant)  # type: ignore[no-untyped-call]
    return next_middleware(app)


app.use(middlewares=[authenticate])


@app.get(
    "/api/v1/customer/<customer_id>",
    summary="One customer by id",
    tags=["customers"],
    responses={200: _json("The customer", CustomerRecord), **_ERRORS, 404: _error("No customer with that id")},
)
def get_customer(customer_id: Annotated[str, Path(min_length=1)]) -> CustomerRecord:
    record = customer_api.get_customer(customer_api.default_deps(), app.context["tenant"], unquote(customer_id))
    metrics.add_metric(name="RecordsServed", unit=MetricUnit.Count, value=1)
    return record


@app.get(
    "/api/v1/customers",
    summary="Customers changed at or after last_updated, ordered by (last_updated, id)",
    tags=["customers"],
    responses={200: _json("One page of the matching customers", CustomersPage), **_ERRORS},
)
def list_customers(
    last_updated: Annotated[
        str | None,
        Query(description="ISO-8601; without an offset it is read in the tenant's time zone", max_length=64),
    ] = None,
    start: Annotated[int, Query(ge=0, le=10_000_000, description="Offset of the first record")] = 0,
    limit: Annotated[int, Query(ge=1, le=500, description="Records per page")] = 25,
) -> CustomersPage:
    page = customer_api.list_customers(customer_api.default_deps(), app.context["tenant"], last_updated, start, limit)
    metrics.add_metric(name="RecordsServed", unit=MetricUnit.Count, value=len(page.records))
    return page


@app.get(OPENAPI_PATH, include_in_schema=False)
def openapi() -> Response[str]:
    metrics.add_metric(name="OpenApiServed", unit=MetricUnit.Count, value=1)
    return json_response(HTTPStatus.OK, openapi_document(app))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
