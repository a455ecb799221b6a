"""An OrderingStack sandbox written from shared/vendor-docs/orderingstack-loyalty-api.txt (cited as
"doc L<n>"), not from our client:

- `x-tenant` on every loyalty call, 3-64 of [a-zA-Z0-9_-] (doc L584-585 and each operation).
- getAccount: path `account`, 3-64 of [a-zA-Z0-9._-] (doc L573-582); getAccountByCard (doc L598-606)
  names no parameter; vendor-reference.md §5.3 reads it as the card id in the path, with the account
  pattern. A value outside the pattern is a 400.
- postEvent (doc L612-641): an array; each event has one of `account` or `card` (3-64 of
  [a-zA-Z0-9._-]), optional `consents` (object), `ts` (date-time), `type` (required, one of INVITED_BY,
  INVITED, FRIEND, UNKNOWN), `id` (required, [a-zA-Z0-9_.-]+), `doNotProcessSymmetry` (boolean). Any
  other key, or a value outside these, is a 400.
- The document is silent on what a repeated event id does, on response bodies, on error bodies and on
  the service paths (`/loyalty-api/api/...` is vendor-reference.md's inference). This sandbox counts a
  repeated id again, the costly reading, so a client that posts an id twice is seen doing it
  (docs/decisions.md D31); errors are `{"error": "..."}`.
Tokens come from /auth-oauth2/oauth/token (Basic client credentials and X-Tenant, vendor-reference.md §5.2).
"""

import base64
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from werkzeug.wrappers import Request, Response

EVENT_ID = re.compile(r"^[a-zA-Z0-9_.-]+$")  # doc L636-638
ACCOUNT = re.compile(r"^[a-zA-Z0-9._-]{3,64}$")  # doc L580-582, L624-628
TENANT = re.compile(r"^[a-zA-Z0-9_-]{3,64}$")  # doc L584-585, L619-620
EVENT_TYPES = frozenset({"INVITED_BY", "INVITED", "FRIEND", "UNKNOWN"})  # doc L632-635
EVENT_KEYS = frozenset({"account", "card", "consents", "ts", "type", "id", "doNotProcessSymmetry"})


@dataclass
class OrderingStackSandbox:
    client_id: str
    client_secret: str
    tenant: str
    token_seconds: int = 3600
    clock: Callable[[], float] = time.monotonic
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)  # by account id
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # by event id, the last one posted
    posts: dict[str, int] = field(default_factory=dict)  # event id -> times posted (counted each time)
    paths: list[str] = field(default_factory=list)  # every path asked for, as the server saw it
    tokens_issued: int = 0
    _tokens: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_account(self, account: str, points: int = 0, card: str | None = None) -> None:
        self.accounts[account] = {"id": account, "points": points, "card": card}

    def expire_tokens(self) -> None:
        self._tokens.clear()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        with self._lock:
            response = self._answer(Request(environ))
        return response(environ, start_response)

    def _answer(self, request: Request) -> Response:
        if request.path == "/_sandbox/received":
            return _json(
                200,
                {
                    "events": self.events,
                    "posts": self.posts,
                    "accounts": self.accounts,
                    "tokens_issued": self.tokens_issued,
                },
            )
        self.paths.append(request.full_path)
        if request.path == "/auth-oauth2/oauth/token":
            return self._token(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self._tokens.get(token, 0) < self.clock():
            return _json(401, {"error": "invalid_token"})
        tenant = request.headers.get("x-tenant") or ""
        if not TENANT.fullmatch(tenant):
            return _json(400, {"error": "x-tenant must be 3-64 of [a-zA-Z0-9_-]"})
        if tenant != self.tenant:
            return _json(403, {"error": "wrong tenant"})
        if request.method == "GET" and request.path.startswith("/loyalty-api/api/account/"):
            return self._account(request.path.removeprefix("/loyalty-api/api/account/"))
        if request.method == "POST" and request.path == "/loyalty-api/api/event":
            return self._post_events(request)
        return _json(404, {"error": "not found"})

    def _account(self, path: str) -> Response:
        """GET account/card/{card} or account/{account} (doc: both ids are 3-64 of [a-zA-Z0-9._-])."""
        by_card = path.startswith("card/")
        wanted = path.removeprefix("card/") if by_card else path
        if not ACCOUNT.fullmatch(wanted):
            return _json(400, {"error": f"{'card' if by_card else 'account'} must be 3-64 of [a-zA-Z0-9._-]"})
        if by_card:
            found = next((a for a in self.accounts.values() if a["card"] == wanted), None)
        else:
            found = self.accounts.get(wanted)
        return _json(200, found) if found else _json(404, {"error": "account not found"})

    def _token(self, request: Request) -> Response:
        expected = "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.headers.get("Authorization") != expected or request.headers.get("X-Tenant") != self.tenant:
            return _json(401, {"error": "unauthorized"})
        if request.form.get("grant_type") not in {"client_credentials", "password"}:
            return _json(400, {"error": "unsupported_grant_type"})
        token = uuid.uuid4().hex
        self._tokens[token] = self.clock() + self.token_seconds
        self.tokens_issued += 1
        return _json(200, {"access_token": token, "token_type": "bearer", "expires_in": self.token_seconds})

    def _post_events(self, request: Request) -> Response:
        try:
            events = orjson.loads(request.get_data())
        except orjson.JSONDecodeError:
            return _json(400, {"error": "not JSON"})
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            return _json(400, {"error": "expected an array of events"})
        for event in events:
            problem = _event_problem(event)
            if problem:
                return _json(400, {"error": problem})
            if "account" in event and event["account"] not in self.accounts:
                return _json(400, {"error": "unknown account"})
        for event in events:
            self.events[event["id"]] = event
            self.posts[event["id"]] = self.posts.get(event["id"], 0) + 1
        return _json(200, {"accepted": len(events)})


def _event_problem(event: dict[str, Any]) -> str | None:
    """What doc L612-641 does not allow in one event, or None."""
    extra = set(event) - EVENT_KEYS
    if extra:
        return f"unknown fields {sorted(extra)}"
    if not EVENT_ID.fullmatch(str(event.get("id", ""))):
        return "id is required, [a-zA-Z0-9_.-]+"
    if event.get("type") not in EVENT_TYPES:
        return f"type must be one of {sorted(EVENT_TYPES)}"
    holders = [name for name in ("account", "card") if name in event]
    if len(holders) != 1 or not ACCOUNT.fullmatch(str(event[holders[0]])):
        return "one of account or card, 3-64 of [a-zA-Z0-9._-]"
    if "consents" in event and not isinstance(event["consents"], dict):
        return "consents is an object"
    if "doNotProcessSymmetry" in event and not isinstance(event["doNotProcessSymmetry"], bool):
        return "doNotProcessSymmetry is a boolean"
    if "ts" in event and not isinstance(event["ts"], str):
        return "ts is a date-time"
    return None


def _json(status: int, body: Any) -> Response:
    return Response(orjson.dumps(body), status=status, content_type="application/json")
