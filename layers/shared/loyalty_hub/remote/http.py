"""One pooled HTTP connection manager per vendor, and the vendor's answer turned into success or a VendorError.

urllib3 directly, not requests: botocore already loads it, and requests cost the vendor workers 35-47 ms
of every cold start for the few calls they make (D43). `send` does what requests did for us: query
strings, JSON and form bodies, Basic auth.
"""

import base64
import email.utils
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Protocol
from urllib.parse import urlencode

import orjson
import urllib3
from urllib3.exceptions import HTTPError as TransportError
from urllib3.exceptions import MaxRetryError, NewConnectionError
from urllib3.exceptions import TimeoutError as TransportTimeout

from loyalty_hub import warm
from loyalty_hub.remote.errors import PermanentError, RetryableError

RENEW_BEFORE_SECONDS = 60.0
TIMEOUT = urllib3.Timeout(connect=3.05, read=10)  # well inside the worker's timeout, even with SQS batching
USER_AGENT = "loyalty-hub/1.0"


@dataclass(frozen=True)
class Response:
    status_code: int
    headers: Mapping[str, str]  # case-insensitive, as urllib3 keeps them
    content: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        return orjson.loads(self.content)


class Transport(Protocol):
    """What `send` needs of a connection: urllib3's PoolManager, or a test's in-process stand-in."""

    def request(self, method: str, url: str, *, body: bytes | None, headers: dict[str, str], **kw: Any) -> Any: ...


_pools: dict[str, Transport] = {}  # vendor -> its pool, kept by the warm execution environment


def session(vendor: str) -> Transport:
    """Reused across warm invocations (keep-alive). Only connection failures are retried here, quickly;
    HTTP errors go back to the queue, so retries happen at one layer and with backoff."""
    if vendor not in _pools:
        retry = urllib3.Retry(total=2, connect=2, read=0, status=0, other=0, backoff_factor=0.2, allowed_methods=None)
        _pools[vendor] = urllib3.PoolManager(maxsize=4, retries=retry, timeout=TIMEOUT)
    return _pools[vendor]


@warm.forgets
def reset_sessions() -> None:
    _pools.clear()


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds or an HTTP date (RFC 9110); None when absent or unreadable."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def send(
    http: Transport,
    method: str,
    url: str,
    *,
    what: str,
    data: bytes | Mapping[str, str] | None = None,
    json: Any = None,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> Response:
    """The response when it is a 2xx; otherwise a RetryableError or PermanentError saying why. `what`
    names the vendor and operation ("voyado contact lookup"): reasons never carry the URL, whose path
    may hold a card number or an email."""
    sent = {"User-Agent": USER_AGENT, **(headers or {})}
    body: bytes | None
    if json is not None:
        body = orjson.dumps(json)
        sent.setdefault("Content-Type", "application/json")
    elif isinstance(data, Mapping):
        body = urlencode(data).encode()
        sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
    else:
        body = data
    if auth is not None:
        sent["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    target = f"{url}?{urlencode(params)}" if params else url
    try:
        answer = http.request(method, target, body=body, headers=sent, preload_content=True)
    except TransportError as exc:
        cause = exc.reason if isinstance(exc, MaxRetryError) else exc  # what the last attempt ran into
        # urllib3 makes a refused connection a kind of connect timeout; it is a network error here.
        if isinstance(cause, TransportTimeout) and not isinstance(cause, NewConnectionError):
            raise RetryableError(f"{what}: timeout") from exc
        raise RetryableError(f"{what}: network error ({type(cause).__name__})") from exc
    response = Response(answer.status, answer.headers, answer.data)
    if response.ok:
        return response
    code, detail = vendor_message(response)
    reason = f"{what}: HTTP {response.status_code}" + (f" {code}" if code else "") + (f": {detail}" if detail else "")
    if response.status_code == 429 or response.status_code >= 500:
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        # A vendor that says when to come back (or that we go too fast) is pacing us: not a failed attempt.
        deferral = response.status_code == 429 or retry_after is not None
        raise RetryableError(reason, status=response.status_code, code=code, retry_after=retry_after, deferral=deferral)
    raise PermanentError(reason, status=response.status_code, code=code)


_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{1,63}$")  # "ContactNotFound", "TooManyRequests"
_QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")
_FIELD = re.compile(r"^[a-z][a-z0-9_.]{0,63}$")  # a field name may stay: "Invalid data for field 'email'"
_EMAIL = re.compile(r"[^\s'\"@]+@[^\s'\"@]+")
_DIGITS = re.compile(r"\+?\d[\d \-()/]{4,}\d")  # phone and card numbers, ids


def vendor_message(response: Response) -> tuple[str | None, str | None]:
    """The vendor's error code (a single word, as Voyado's `message`), and its text with what could be a
    customer's value taken out: quoted values other than field names, emails, runs of digits."""
    try:
        body = response.json()
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    error = body.get("error")
    texts = [body.get("message"), error.get("reason") if isinstance(error, dict) else error, body.get("detail")]
    text = next((t for t in texts if isinstance(t, str) and t.strip()), None)
    if text is None:
        return None, None
    if _CODE.fullmatch(text):
        return text, None
    return None, redact(text)[:200]


def redact(text: str) -> str:
    def quoted(match: re.Match[str]) -> str:
        inner = match.group(1) if match.group(1) is not None else match.group(2)
        return match.group(0) if _FIELD.fullmatch(inner) else "'…'"

    return _DIGITS.sub("…", _EMAIL.sub("…", _QUOTED.sub(quoted, text)))


class TokenCache:
    """Access tokens shared by a warm execution environment and renewed shortly before they expire:
    token endpoints are rate limited, so a token per call would soon be refused."""

    def __init__(self, renew_before_seconds: float = RENEW_BEFORE_SECONDS) -> None:
        self._renew_before = renew_before_seconds
        self._tokens: dict[tuple[str, ...], tuple[str, float]] = {}

    def get(
        self, key: tuple[str, ...], now: float, fetch: Callable[[], tuple[str, float]], *, renew: bool = False
    ) -> str:
        """The cached token for `key`, or a new one from `fetch` (token, expiry on the caller's clock)."""
        cached = self._tokens.get(key)
        if cached is not None and not renew and cached[1] - self._renew_before > now:
            return cached[0]
        value, expires_at = fetch()
        self._tokens[key] = (value, expires_at)
        return value

    def clear(self) -> None:
        self._tokens.clear()


def renewing_token_once[T](call: Callable[[bool], T]) -> T:
    """`call(False)`; if the vendor answers 401 (the token expired early or was revoked), `call(True)` once
    with a renewed token."""
    try:
        return call(False)
    except PermanentError as error:
        if error.status != 401:
            raise
    return call(True)
