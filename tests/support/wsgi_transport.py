"""An HTTP transport that hands requests to a WSGI app in process: vendor sandboxes without sockets.

It answers `request(...)` as urllib3's PoolManager does, so the clients' own `remote.http.send` runs
unchanged in front of it."""

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from urllib3 import HTTPHeaderDict
from urllib3.exceptions import ReadTimeoutError
from werkzeug.test import Client


@dataclass(frozen=True)
class Answer:
    status: int
    headers: HTTPHeaderDict
    data: bytes


class WsgiTransport:
    def __init__(self, app: Any) -> None:
        self._client = Client(app)

    def request(self, method: str, url: str, *, body: bytes | None, headers: dict[str, str], **_: Any) -> Answer:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        result = self._client.open(path, method=method, headers=headers, data=body)
        if result.status_code == 504 and b"timeout" in result.get_data():
            raise ReadTimeoutError(None, url, "sandbox held the request past the timeout")  # type: ignore[arg-type]
        return Answer(result.status_code, HTTPHeaderDict(dict(result.headers)), result.get_data())


def session_for(app: Any) -> WsgiTransport:
    return WsgiTransport(app)


@dataclass(frozen=True)
class Reply:
    status_code: int
    text: str
    headers: dict[str, str]

    def json(self) -> Any:
        return orjson.loads(self.text)


class SandboxHttp:
    """get/post against a sandbox in process, for tests that speak to a sandbox as a client would."""

    def __init__(self, app: Any) -> None:
        self._client = Client(app)

    def request(self, method: str, url: str, *, params: Any = None, **kwargs: Any) -> Reply:
        parts = urlsplit(url)
        result = self._client.open(parts.path, method=method, query_string=params or parts.query, **kwargs)
        return Reply(result.status_code, result.get_data(as_text=True), dict(result.headers))

    def get(self, url: str, **kwargs: Any) -> Reply:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Reply:
        return self.request("POST", url, **kwargs)
