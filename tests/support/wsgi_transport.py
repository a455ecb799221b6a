"""A requests transport that hands requests to a WSGI app in process: vendor sandboxes without sockets."""

from typing import Any

import requests
from requests.adapters import BaseAdapter
from werkzeug.test import Client


class WsgiTransport(BaseAdapter):
    def __init__(self, app: Any) -> None:
        super().__init__()
        self._client = Client(app)

    def send(self, request: requests.PreparedRequest, **_: Any) -> requests.Response:  # type: ignore[override]
        result = self._client.open(
            request.path_url, method=request.method, headers=dict(request.headers), data=request.body
        )
        if result.status_code == 504 and b"timeout" in result.get_data():
            raise requests.ReadTimeout("sandbox held the request past the timeout")
        response = requests.Response()
        response.status_code = result.status_code
        response._content = result.get_data()
        response.headers.update(result.headers)
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        return None


def session_for(app: Any) -> requests.Session:
    http = requests.Session()
    http.mount("https://", WsgiTransport(app))
    return http
