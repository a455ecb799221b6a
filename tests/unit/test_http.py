"""remote.http.send: the request as the vendor documents expect it, and every transport failure retryable."""

import base64
from typing import Any

import pytest
from urllib3 import HTTPHeaderDict
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError, ReadTimeoutError

from loyalty_hub.remote import http
from loyalty_hub.remote.errors import PermanentError, RetryableError
from tests.support.wsgi_transport import Answer


class Recorder:
    def __init__(self, answer: Answer | Exception) -> None:
        self.answer = answer
        self.sent: list[tuple[str, str, bytes | None, dict[str, str]]] = []

    def request(self, method: str, url: str, *, body: bytes | None, headers: dict[str, str], **_: Any) -> Answer:
        self.sent.append((method, url, body, headers))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def ok(body: bytes = b"{}") -> Answer:
    return Answer(200, HTTPHeaderDict({"Content-Type": "application/json"}), body)


def test_json_form_query_and_basic_auth_are_sent_as_requests_sent_them() -> None:
    wire = Recorder(ok(b'{"a": 1}'))
    assert http.send(wire, "POST", "https://v.example/x", what="t", json={"k": "v"}).json() == {"a": 1}
    http.send(wire, "POST", "https://v.example/x", what="t", data={"grant_type": "client_credentials", "s": "a b"})
    http.send(wire, "GET", "https://v.example/x", what="t", params={"modifiedSince": "2024-07-01T00:00:00+02:00"})
    http.send(wire, "POST", "https://v.example/x", what="t", data=b"raw", auth=("user", "p:w"))
    (_, _, body1, h1), (_, _, body2, h2), (_, url3, _, _), (_, _, body4, h4) = wire.sent
    assert (body1, h1["Content-Type"]) == (b'{"k":"v"}', "application/json")
    assert (body2, h2["Content-Type"]) == (b"grant_type=client_credentials&s=a+b", "application/x-www-form-urlencoded")
    assert url3 == "https://v.example/x?modifiedSince=2024-07-01T00%3A00%3A00%2B02%3A00"
    assert body4 == b"raw" and h4["Authorization"] == "Basic " + base64.b64encode(b"user:p:w").decode()
    assert all(h["User-Agent"] == http.USER_AGENT for *_, h in wire.sent)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (MaxRetryError(None, "/", ReadTimeoutError(None, "/", "read timed out")), "t: timeout"),  # type: ignore[arg-type]
        (ReadTimeoutError(None, "/", "read timed out"), "t: timeout"),  # type: ignore[arg-type]
        (MaxRetryError(None, "/", NewConnectionError(None, "refused")), "t: network error (NewConnectionError)"),  # type: ignore[arg-type]
        (ProtocolError("connection aborted"), "t: network error (ProtocolError)"),
    ],
)
def test_transport_failures_are_retryable_and_name_no_url(error: Exception, reason: str) -> None:
    with pytest.raises(RetryableError) as raised:
        http.send(Recorder(error), "GET", "https://v.example/contacts/jana@example.com", what="t")
    assert raised.value.reason == reason


def test_a_429_with_retry_after_defers_and_a_400_is_permanent() -> None:
    pacing = Answer(429, HTTPHeaderDict({"Retry-After": "7"}), b'{"message": "TooManyRequests"}')
    with pytest.raises(RetryableError) as deferred:
        http.send(Recorder(pacing), "GET", "https://v.example/x", what="t")
    assert deferred.value.deferral and deferred.value.retry_after == 7 and deferred.value.code == "TooManyRequests"
    with pytest.raises(PermanentError) as refused:
        http.send(Recorder(Answer(400, HTTPHeaderDict(), b"not json")), "GET", "https://v.example/x", what="t")
    assert refused.value.status == 400
