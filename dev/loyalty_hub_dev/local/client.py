"""Small HTTP helpers for talking to the local stack from tests and scripts: no dependency beyond the
standard library."""

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any


def wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


def http_json(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None, *, timeout: float = 10
) -> tuple[int, Any]:
    """A JSON request to the local stack: (status, decoded body), error statuses included."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")
