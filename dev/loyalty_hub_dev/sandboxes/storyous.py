"""A Storyous REST sandbox, serving both the login host and the API host.

It enforces:
- `POST /api/auth/authorize`: a form body (400 invalid_request otherwise) with the app's `client_id` and
  `client_secret` (401 invalid_client) and `grant_type=client_credentials` (400 unsupported_grant_type); the token
  carries an ISO `expires_at`, not `expires_in`.
- `GET /bills/{merchantId}-{placeId}` and `GET /bills/{merchantId}-{placeId}/{billId}`: a live Bearer token (401
  invalid_token), a known merchant-place pair and bill (404), and for the list `limit` 1..100 (default 20), an
  offset-carrying `modifiedSince` and a known `lastBillId` (400 otherwise). Bills come newest first by
  (`paidAt` or `createdAt`, `billId`), lists without `items`, and `nextPage` (same filters plus `lastBillId`) is
  absent on the last page.
- A rate limit over the token and API endpoints (`requests_per_second` in any 1-second window of `clock`) and
  `throttle_next`, both answering 429 with `Retry-After`.

Each token or API request lands in exactly one counter: `throttled`, `token_requests`, `unauthorized` (401 on
an API call), `list_requests` or `detail_requests`. `GET /_sandbox/received` reports them, unthrottled;
`POST /_sandbox/bills/{merchantId}-{placeId}` stores bills (a JSON bill or list) as `put_bill` does.
"""

import math
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import orjson
from werkzeug.wrappers import Request, Response

AUTHORIZE_PATH = "/api/auth/authorize"
BILLS_PATH = re.compile(r"^/bills/(?P<source>[^/]+)(?:/(?P<bill_id>[^/]+))?$")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
NOT_FOUND = {"message": "Not found"}
SANDBOX_BILLS = "/_sandbox/bills/"  # POST /_sandbox/bills/{merchantId}-{placeId}


@dataclass
class StoryousSandbox:
    client_id: str
    client_secret: str
    token_ttl_seconds: float = 3600.0
    requests_per_second: int | None = None  # None: unlimited
    clock: Callable[[], float] = time.time  # wall clock: `expires_at` is printed from it
    token_requests: int = 0
    list_requests: int = 0
    detail_requests: int = 0
    throttled: int = 0
    unauthorized: int = 0
    _places: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict, init=False)  # "m-p" -> id -> bill
    _tokens: dict[str, float] = field(default_factory=dict, init=False)  # token -> expiry on `clock`
    _admitted: deque[float] = field(default_factory=deque, init=False)  # times of requests in the last second
    _forced: int = field(default=0, init=False)
    _forced_retry_after: int = field(default=1, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        if self.requests_per_second is not None and self.requests_per_second < 1:
            raise ValueError("requests_per_second must be at least 1, or None for no limit")

    def add_place(self, merchant_id: str, place_id: str) -> None:
        with self._lock:
            self._places.setdefault(_source(merchant_id, place_id), {})

    def put_bill(self, merchant_id: str, place_id: str, bill: dict[str, Any]) -> None:
        stored = _checked(bill)
        with self._lock:
            self._places.setdefault(_source(merchant_id, place_id), {})[stored["billId"]] = stored

    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    def throttle_next(self, count: int, retry_after: int = 1) -> None:
        if count < 0 or retry_after < 0:
            raise ValueError("count and retry_after cannot be negative")
        with self._lock:
            self._forced = count
            self._forced_retry_after = retry_after

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        with self._lock:
            response = self._answer(Request(environ))
        return response(environ, start_response)

    # ------------------------------------------------------------------------------------------ routing
    def _answer(self, request: Request) -> Response:
        if request.path == "/_sandbox/received" and request.method == "GET":
            return _json(200, self._received())
        if request.path.startswith(SANDBOX_BILLS) and request.method == "POST":
            return self._put_bills(request.path.removeprefix(SANDBOX_BILLS), request.get_data())
        bills = BILLS_PATH.fullmatch(request.path)
        is_token = request.path == AUTHORIZE_PATH and request.method == "POST"
        if not is_token and (bills is None or request.method != "GET"):
            return _json(404, NOT_FOUND)
        refusal = self._admit()
        if refusal is not None:
            return refusal
        if is_token:
            self.token_requests += 1
            return self._token(request)
        assert bills is not None  # narrowed by the routing test above
        if not self._authorized(request):
            self.unauthorized += 1
            return _json(401, {"error": "invalid_token"})
        if bills["bill_id"] is None:
            self.list_requests += 1
            return self._list(request, bills["source"])
        self.detail_requests += 1
        return self._detail(bills["source"], bills["bill_id"])

    def _put_bills(self, source: str, body: bytes) -> Response:
        """Bills put into Storyous over HTTP, for a local stack in another process (a JSON bill or list)."""
        try:
            document = orjson.loads(body)
            bills = [_checked(b) for b in (document if isinstance(document, list) else [document])]
        except (orjson.JSONDecodeError, ValueError) as exc:
            return _json(400, {"message": str(exc)})
        place = self._places.setdefault(source, {})
        for bill in bills:
            place[bill["billId"]] = bill
        return _json(200, {"stored": len(bills)})

    def _received(self) -> dict[str, int]:
        return {
            "token_requests": self.token_requests,
            "list_requests": self.list_requests,
            "detail_requests": self.detail_requests,
            "throttled": self.throttled,
            "unauthorized": self.unauthorized,
            "bills": sum(len(bills) for bills in self._places.values()),
        }

    def _admit(self) -> Response | None:
        """None when the request may proceed, else the 429 to answer."""
        if self._forced > 0:
            self._forced -= 1
            self.throttled += 1
            return _too_many(self._forced_retry_after)
        if self.requests_per_second is None:
            return None
        now = self.clock()
        while self._admitted and self._admitted[0] <= now - 1.0:
            self._admitted.popleft()
        if len(self._admitted) >= self.requests_per_second:
            self.throttled += 1
            return _too_many(max(1, math.ceil(self._admitted[0] + 1.0 - now)))
        self._admitted.append(now)
        return None

    # ------------------------------------------------------------------------------------------ token
    def _token(self, request: Request) -> Response:
        if request.mimetype != "application/x-www-form-urlencoded":
            return _json(400, {"error": "invalid_request", "error_description": "expected a form-encoded body"})
        given_id = request.form.get("client_id", "")
        given_secret = request.form.get("client_secret", "")
        # Credentials are checked before the grant type, so a wrong secret is never masked by another error.
        if not (
            secrets.compare_digest(given_id.encode(), self.client_id.encode())
            and secrets.compare_digest(given_secret.encode(), self.client_secret.encode())
        ):
            return _json(401, {"error": "invalid_client"})
        if request.form.get("grant_type") != "client_credentials":
            return _json(400, {"error": "unsupported_grant_type"})
        token = secrets.token_urlsafe(32)
        expires = self.clock() + self.token_ttl_seconds
        self._tokens[token] = expires
        expires_at = datetime.fromtimestamp(expires, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return _json(200, {"access_token": token, "token_type": "Bearer", "expires_at": expires_at})

    def _authorized(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        expires = self._tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        return expires is not None and self.clock() < expires

    # ------------------------------------------------------------------------------------------ bills
    def _list(self, request: Request, source: str) -> Response:
        bills = self._places.get(source)
        if bills is None:
            return _json(404, NOT_FOUND)
        raw_limit = request.args.get("limit", str(DEFAULT_LIMIT))
        if not (raw_limit.isascii() and raw_limit.isdigit() and 1 <= int(raw_limit) <= MAX_LIMIT):
            return _json(400, {"message": f"limit must be an integer from 1 to {MAX_LIMIT}, got {raw_limit!r}"})
        limit = int(raw_limit)
        ordered = sorted(bills.values(), key=_order, reverse=True)
        if "modifiedSince" in request.args:
            since = _instant(request.args["modifiedSince"])
            if since is None:
                return _json(400, {"message": "modifiedSince must be an ISO datetime with an offset or Z"})
            ordered = [bill for bill in ordered if _modified_since(bill, since)]
        if "lastBillId" in request.args:
            cursor = bills.get(request.args["lastBillId"])
            if cursor is None:
                return _json(400, {"message": f"unknown lastBillId {request.args['lastBillId']!r}"})
            # Keyset, not position: the cursor bill need not pass the filters for its successors to be found.
            ordered = [bill for bill in ordered if _order(bill) < _order(cursor)]
        page = ordered[:limit]
        body: dict[str, Any] = {"data": [_summary(bill) for bill in page], "ok": 1}
        if len(ordered) > limit:
            filters = [(name, value) for name, value in request.args.items(multi=True) if name != "lastBillId"]
            query = urlencode([*filters, ("lastBillId", page[-1]["billId"])])
            body["nextPage"] = f"/bills/{quote(source, safe='')}?{query}"
        return _json(200, body)

    def _detail(self, source: str, bill_id: str) -> Response:
        bill = self._places.get(source, {}).get(bill_id)
        return _json(200, bill) if bill is not None else _json(404, NOT_FOUND)


def _checked(bill: Any) -> dict[str, Any]:
    """A JSON copy of a bill the sandbox can order and serve; ValueError says what is wrong with it."""
    if not isinstance(bill, dict):
        raise ValueError(f"a bill is a JSON object: {bill!r}")
    bill_id = bill.get("billId")
    if not isinstance(bill_id, str) or not bill_id:
        raise ValueError(f"a bill needs a string billId: {bill!r}")
    for name in ("paidAt", "createdAt", "_lastModifiedAt"):
        if bill.get(name) is not None and _instant(bill[name]) is None:
            raise ValueError(f"{name} must be an ISO datetime with an offset: {bill[name]!r}")
    if bill.get("paidAt") is None and bill.get("createdAt") is None:
        raise ValueError(f"bill {bill_id} needs paidAt or createdAt to be ordered")
    # A JSON copy: fails now if unservable, and later edits by the caller do not leak in.
    stored: dict[str, Any] = orjson.loads(orjson.dumps(bill))
    return stored


def _source(merchant_id: str, place_id: str) -> str:
    # Storyous names a place by the two ids joined with a dash, so the URL segment is the key.
    return f"{merchant_id}-{place_id}"


def _instant(value: Any) -> datetime | None:
    """An aware datetime from an ISO string, or None when it is not one (naive times are ambiguous)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _order(bill: dict[str, Any]) -> tuple[datetime, str]:
    when = _instant(bill.get("paidAt")) or _instant(bill.get("createdAt"))
    assert when is not None  # put_bill refuses bills without either
    return when, bill["billId"]


def _modified_since(bill: dict[str, Any], since: datetime) -> bool:
    modified = _instant(bill.get("_lastModifiedAt"))
    return modified is not None and modified >= since  # a bill without a modification time cannot qualify


def _summary(bill: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in bill.items() if name != "items"}


def _too_many(retry_after: int) -> Response:
    return _json(429, {"error": "TooManyRequests"}, {"Retry-After": str(retry_after)})


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status=status, headers=headers, content_type="application/json")
