"""HTTP plumbing shared by the API functions: API Gateway's proxy event routed to a handler, and domain
errors turned into JSON answers here, and only here.

Written out rather than Powertools' event_handler: the two API functions have four routes between them,
and event_handler cost 93 ms of every cold start (1.34x the floor on its own; D43).
"""

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

import orjson
from aws_lambda_powertools.metrics import MetricUnit

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

OPENAPI_PATH = "/api/v1/openapi.json"

_STATUS: dict[type[HubError], HTTPStatus] = {
    BadRequest: HTTPStatus.BAD_REQUEST,
    InvalidEnvelope: HTTPStatus.UNPROCESSABLE_ENTITY,
    PayloadTooLarge: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    Unauthorized: HTTPStatus.UNAUTHORIZED,
    NotFound: HTTPStatus.NOT_FOUND,
    Unavailable: HTTPStatus.SERVICE_UNAVAILABLE,
    ConfigurationError: HTTPStatus.INTERNAL_SERVER_ERROR,
}


@dataclass(frozen=True)
class Request:
    """The parts of an API Gateway REST proxy event the handlers read."""

    event: Mapping[str, Any]

    @property
    def query(self) -> dict[str, str]:
        return dict(self.event.get("queryStringParameters") or {})

    def header(self, name: str) -> str | None:
        """A request header by name, whatever its case (HTTP names are case-insensitive)."""
        wanted = name.lower()
        return next((v for k, v in (self.event.get("headers") or {}).items() if k.lower() == wanted), None)

    def body(self) -> bytes:
        """The request body as sent: bytes, so hashing and JSON decoding see exactly what arrived."""
        body = self.event.get("body") or ""
        if self.event.get("isBase64Encoded"):
            try:
                return base64.b64decode(body, validate=True)
            except binascii.Error as exc:
                raise BadRequest("body is not valid base64") from exc
        return str(body).encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class Response:
    status: HTTPStatus
    body: Mapping[str, Any] | bytes  # bytes: a JSON document already serialised
    headers: Mapping[str, str] = field(default_factory=dict)

    def proxy(self) -> dict[str, Any]:
        """The answer in API Gateway's proxy integration format."""
        body = self.body if isinstance(self.body, bytes) else orjson.dumps(self.body, default=str)
        headers = {"Content-Type": ["application/json"], **{k: [v] for k, v in self.headers.items()}}
        return {
            "statusCode": int(self.status),
            "multiValueHeaders": headers,
            "body": body.decode(),
            "isBase64Encoded": False,
        }


def error_response(status: HTTPStatus, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status, {"error": message}, headers or {})


Handler = Callable[..., Response]


class Router:
    """Routes by method and path template ("/api/v1/customer/{id}", as in template.yaml)."""

    def __init__(self) -> None:
        self._routes: list[tuple[frozenset[str], re.Pattern[str], Handler]] = []

    def route(self, template: str, *methods: str) -> Callable[[Handler], Handler]:
        pattern = re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$")

        def register(handler: Handler) -> Handler:
            self._routes.append((frozenset(methods), pattern, handler))
            return handler

        return register

    def resolve(self, event: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return self._dispatch(event).proxy()
        except HubError as exc:
            return _hub_error(exc).proxy()
        except Exception as exc:
            metrics.add_metric(name="RequestsFailed", unit=MetricUnit.Count, value=1)
            logger.exception("unexpected error", extra={"error_class": type(exc).__name__})
            return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error").proxy()

    def _dispatch(self, event: Mapping[str, Any]) -> Response:
        path, method = str(event.get("path") or "/"), str(event.get("httpMethod") or "")
        matched = [(methods, found, handler) for methods, p, handler in self._routes if (found := p.match(path))]
        for methods, found, handler in matched:
            if method in methods:
                params = {name: unquote(value) for name, value in found.groupdict().items()}
                return handler(Request(event), **params)  # path parameters, percent-decoded
        metrics.add_metric(name="RequestsRejected", unit=MetricUnit.Count, value=1)
        if matched:
            return error_response(HTTPStatus.METHOD_NOT_ALLOWED, f"method {method[:16]} not allowed here")
        return error_response(HTTPStatus.NOT_FOUND, "no such route")


def rejected(status: HTTPStatus, reason: str, headers: Mapping[str, str] | None = None) -> Response:
    """A 4xx the caller can act on: counted, logged with its reason, answered with it."""
    metrics.add_metric(name="RequestsRejected", unit=MetricUnit.Count, value=1)
    logger.info("request rejected", extra={"status": int(status), "reason": reason})
    return error_response(status, reason, headers)


def _hub_error(exc: HubError) -> Response:
    status = next((s for cls, s in _STATUS.items() if isinstance(exc, cls)), HTTPStatus.INTERNAL_SERVER_ERROR)
    if status < HTTPStatus.INTERNAL_SERVER_ERROR:
        return rejected(status, str(exc))
    metrics.add_metric(name="RequestsFailed", unit=MetricUnit.Count, value=1)
    logger.exception("request failed", extra={"error_class": type(exc).__name__})
    # Operators read the cause in the log; callers get no internals.
    return error_response(
        status, "service temporarily unavailable" if status == HTTPStatus.SERVICE_UNAVAILABLE else "internal error"
    )
