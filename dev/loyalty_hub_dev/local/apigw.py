"""API Gateway (REST, Lambda proxy integration) in front of handlers, as a WSGI application.

Requests become the proxy events API Gateway would send, and the handlers' proxy responses become
HTTP responses; the same adapter serves the local stack and the in-process API fuzzing tests.
"""

import base64
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


@dataclass(frozen=True)
class Route:
    method: str
    resource: str  # API Gateway resource path, e.g. /api/v1/customer/{id}
    handler: Handler
    function_name: str = "local"

    @property
    def pattern(self) -> re.Pattern[str]:
        # Like API Gateway, a {param} matches one path segment: no '/'.
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.resource))
        return re.compile(f"^{regex}$")


@dataclass(frozen=True)
class LambdaContext:
    function_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:local:000000000000:function:local"
    deadline_ms: int = field(default_factory=lambda: int(time.time() * 1000) + 30_000)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_ms - int(time.time() * 1000))


class ApiGatewayWsgi:
    def __init__(self, routes: Iterable[Route], stage: str = "local", access_log: bool = False) -> None:
        self._routes = list(routes)
        self._stage = stage
        self._access_log = access_log

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        # PATH_INFO arrives percent-decoded; API Gateway matches on the raw path, so re-read it.
        raw_path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
        path = raw_path.split("?", 1)[0] or environ.get("PATH_INFO", "/")
        method = environ["REQUEST_METHOD"]
        for route in self._routes:
            match = route.pattern.match(path)
            if match and route.method == method:
                event = self._event(environ, route, path, {k: unquote(v) for k, v in match.groupdict().items()})
                started = time.monotonic()
                response = route.handler(event, LambdaContext(route.function_name))
                if self._access_log:
                    elapsed = (time.monotonic() - started) * 1000
                    print(
                        f"{method} {path} -> {route.function_name} {response['statusCode']} {elapsed:.0f} ms",
                        file=sys.stderr,
                    )
                return self._respond(response, start_response)
        start_response("403 Forbidden", [("Content-Type", "application/json")])
        return [b'{"message":"Missing Authentication Token"}']  # API Gateway's answer to an unknown route

    def _event(self, environ: dict[str, Any], route: Route, path: str, params: dict[str, str]) -> dict[str, Any]:
        headers: dict[str, list[str]] = {}
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                name = key[5:].replace("_", "-").title()
                headers.setdefault(name, []).append(value)
        for key, name in (("CONTENT_TYPE", "Content-Type"), ("CONTENT_LENGTH", "Content-Length")):
            if environ.get(key):
                headers[name] = [environ[key]]
        query: dict[str, list[str]] = {}
        for name, value in parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True):
            query.setdefault(name, []).append(value)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        try:
            body, encoded = raw.decode(), False
        except UnicodeDecodeError:
            body, encoded = base64.b64encode(raw).decode(), True
        request_id = str(uuid.uuid4())
        return {
            "resource": route.resource,
            "path": path,
            "httpMethod": route.method,
            "headers": {k: v[-1] for k, v in headers.items()},
            "multiValueHeaders": headers,
            "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
            "multiValueQueryStringParameters": query or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": route.resource,
                "httpMethod": route.method,
                "path": f"/{self._stage}{path}",
                "stage": self._stage,
                "requestId": request_id,
                "extendedRequestId": request_id,
                "requestTimeEpoch": int(time.time() * 1000),
                "identity": {"sourceIp": environ.get("REMOTE_ADDR", "127.0.0.1")},
                "accountId": "000000000000",
                "apiId": "local",
                "protocol": environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            },
            "body": body or None,
            "isBase64Encoded": encoded,
        }

    @staticmethod
    def _respond(response: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        status = HTTPStatus(response["statusCode"])
        headers = [(k, v) for k, v in (response.get("headers") or {}).items()]
        for name, values in (response.get("multiValueHeaders") or {}).items():
            headers += [(name, value) for value in values]
        body = response.get("body") or ""
        payload = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
        start_response(f"{status.value} {status.phrase}", headers)
        return [payload]
