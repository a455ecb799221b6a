"""One pooled HTTP session per vendor, and the vendor's answer turned into success or a VendorError."""

import email.utils
import re
import time
from collections.abc import Callable
from datetime import UTC

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from loyalty_hub import warm
from loyalty_hub.remote.errors import PermanentError, RetryableError

RENEW_BEFORE_SECONDS = 60.0
TIMEOUT = (3.05, 10)  # connect, read: well inside the worker's timeout, even with SQS batching
_sessions: dict[str, requests.Session] = {}


def session(vendor: str) -> requests.Session:
    """Reused across warm invocations (keep-alive). Only connection failures are retried here, quickly;
    HTTP errors go back to the queue, so retries happen at one layer and with backoff."""
    if vendor not in _sessions:
        http = requests.Session()
        retry = Retry(total=2, connect=2, read=0, status=0, other=0, backoff_factor=0.2, allowed_methods=None)
        http.mount("https://", HTTPAdapter(max_retries=retry, pool_maxsize=4))
        http.mount("http://", HTTPAdapter(max_retries=retry, pool_maxsize=4))
        http.headers["User-Agent"] = "loyalty-hub/1.0"
        _sessions[vendor] = http
    return _sessions[vendor]


@warm.forgets
def reset_sessions() -> None:
    _sessions.clear()


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


def send(http: requests.Session, method: str, url: str, *, what: str, **kwargs: object) -> requests.Response:
    """The response when it is a 2xx; otherwise a RetryableError or PermanentError saying why. `what`
    names the vendor and operation ("voyado contact lookup"): reasons never carry the URL, whose path
    may hold a card number or an email."""
    try:
        response = http.request(method, url, timeout=TIMEOUT, **kwargs)  # type: ignore[arg-type]
    except requests.Timeout as exc:
        raise RetryableError(f"{what}: timeout") from exc
    except requests.RequestException as exc:
        raise RetryableError(f"{what}: network error ({type(exc).__name__})") from exc
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


def vendor_message(response: requests.Response) -> tuple[str | None, str | None]:
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
