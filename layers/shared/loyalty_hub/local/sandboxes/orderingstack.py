"""An OrderingStack sandbox: OAuth2 tokens from /auth-oauth2/oauth/token (Basic client credentials and
X-Tenant required), Bearer token and x-tenant on every loyalty call, accounts by id or card, and events
de-duplicated by id so a purchase posted twice is counted once."""

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

EVENT_ID = re.compile(r"^[a-zA-Z0-9_.-]+$")


@dataclass
class OrderingStackSandbox:
    client_id: str
    client_secret: str
    tenant: str
    token_seconds: int = 3600
    clock: Callable[[], float] = time.monotonic
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)  # by account id
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # by event id
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
            return _json(200, {"events": self.events, "accounts": self.accounts, "tokens_issued": self.tokens_issued})
        if request.path == "/auth-oauth2/oauth/token":
            return self._token(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self._tokens.get(token, 0) < self.clock():
            return _json(401, {"error": "invalid_token"})
        if request.headers.get("x-tenant") != self.tenant:
            return _json(403, {"error": "wrong tenant"})
        if request.method == "GET" and request.path.startswith("/loyalty-api/api/account/card/"):
            card = request.path.rsplit("/", 1)[1]
            found = next((a for a in self.accounts.values() if a["card"] == card), None)
            return _json(200, found) if found else _json(404, {"error": "account not found"})
        if request.method == "GET" and request.path.startswith("/loyalty-api/api/account/"):
            found = self.accounts.get(request.path.rsplit("/", 1)[1])
            return _json(200, found) if found else _json(404, {"error": "account not found"})
        if request.method == "POST" and request.path == "/loyalty-api/api/event":
            return self._post_events(request)
        return _json(404, {"error": "not found"})

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
            if not EVENT_ID.fullmatch(str(event.get("id", ""))) or not event.get("type"):
                return _json(400, {"error": f"invalid event {event!r}"})
            if event.get("account") not in self.accounts:
                return _json(400, {"error": f"unknown account {event.get('account')!r}"})
        fresh = [e for e in events if e["id"] not in self.events]
        for event in fresh:  # an id seen before is the same event: not counted again
            self.events[event["id"]] = event
        return _json(200, {"accepted": len(fresh), "duplicates": len(events) - len(fresh)})


def _json(status: int, body: Any) -> Response:
    return Response(orjson.dumps(body), status=status, content_type="application/json")
