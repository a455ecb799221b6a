"""HTTP plumbing shared by the API functions: domain errors become JSON answers here, and only here."""

import base64
import binascii
from http import HTTPStatus
from typing import Any

import orjson
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

from loyalty_hub.errors import (
    BadRequest,
    ConfigurationError,
    HubError,
    InvalidEnvelope,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
)
from loyalty_hub.observability import logger, metrics

_STATUS: dict[type[HubError], HTTPStatus] = {
    BadRequest: HTTPStatus.BAD_REQUEST,
    InvalidEnvelope: HTTPStatus.UNPROCESSABLE_ENTITY,
    PayloadTooLarge: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    Unauthorized: HTTPStatus.UNAUTHORIZED,
    NotFound: HTTPStatus.NOT_FOUND,
    Unavailable: HTTPStatus.SERVICE_UNAVAILABLE,
    ConfigurationError: HTTPStatus.INTERNAL_SERVER_ERROR,
}


def raw_body(event: BaseProxyEvent) -> bytes:
    """The request body as sent: bytes, so hashing and JSON decoding see exactly what arrived."""
    body = event.body or ""
    if event.is_base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except binascii.Error as exc:
            raise BadRequest("body is not valid base64") from exc
    return body.encode("utf-8", "surrogatepass")


def json_response(status: HTTPStatus, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[str]:
    return Response[str](
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=orjson.dumps(body, default=str).decode(),
        headers=headers,
    )


def error_response(status: HTTPStatus, message: str, headers: dict[str, str] | None = None) -> Response[str]:
    return json_response(status, {"error": message}, headers)


def register_error_handlers(app: APIGatewayRestResolver) -> None:
    @app.exception_handler(HubError)
    def _hub_error(exc: HubError) -> Response[str]:
        status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), HTTPStatus.INTERNAL_SERVER_ERROR)
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            metrics.add_metric(name="RequestsFailed", unit=MetricUnit.Count, value=1)
            logger.exception("request failed", extra={"error_class": type(exc).__name__})
            # Operators read the cause in the log; callers get no internals.
            message = (
                "service temporarily unavailable" if status == HTTPStatus.SERVICE_UNAVAILABLE else "internal error"
            )
            return error_response(status, message)
        metrics.add_metric(name="RequestsRejected", unit=MetricUnit.Count, value=1)
        logger.info("request rejected", extra={"status": int(status), "reason": str(exc)})
        return error_response(status, str(exc))

    @app.not_found
    def _not_found(_: NotFoundError) -> Response[str]:
        metrics.add_metric(name="RequestsRejected", unit=MetricUnit.Count, value=1)
        return error_response(HTTPStatus.NOT_FOUND, "no such route")

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response[str]:
        metrics.add_metric(name="RequestsFailed", unit=MetricUnit.Count, value=1)
        logger.exception("unexpected error", extra={"error_class": type(exc).__name__})
        return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")
