"""A Voyado (eastsideapps bridge) sandbox: `POST /api/v1/contact-details` with Bearer auth, exactly one
identifier (422 otherwise), the shop's leaky bucket (429 TooManyRequests when full), 404 ContactNotFound
for unknown contacts. It counts what it answered, to measure pacing against it."""

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from werkzeug.wrappers import Request, Response

IDENTIFIERS = ("shopify_customer_id", "voyado_contact_id", "email")


@dataclass
class VoyadoSandbox:
    api_key: str
    bucket_size: int = 60
    drip_per_second: float = 1.0
    clock: Callable[[], float] = time.monotonic
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)  # by email
    accepted: int = 0
    throttled: int = 0
    first_at: float | None = None
    last_at: float | None = None
    _level: float = 0.0
    _leaked_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_contact(self, email: str, bonus_points: int = 0, member_level: str | None = None) -> str:
        contact_id = str(uuid.uuid5(uuid.NAMESPACE_URL, email))
        self.contacts[email.lower()] = {"id": contact_id, "email": email, "points": bonus_points, "level": member_level}
        return contact_id

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self._answer(Request(environ))(environ, start_response)

    def _answer(self, request: Request) -> Response:
        if request.path == "/_sandbox/received":
            return _json(200, {"accepted": self.accepted, "throttled": self.throttled, "contacts": len(self.contacts)})
        if request.path != "/api/v1/contact-details" or request.method != "POST":
            return _json(404, {"message": "Not Found"})
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _json(401, {"message": "Unauthenticated."})
        if not self._drip():
            return _json(429, {"error": "TooManyRequests", "message": "Too Many Attempts."}, {"Retry-After": "1"})
        try:
            body = orjson.loads(request.get_data() or b"{}")
        except orjson.JSONDecodeError:
            return _json(422, {"message": "The given data was invalid.", "errors": {"body": ["not JSON"]}})
        given = [name for name in IDENTIFIERS if isinstance(body, dict) and body.get(name) not in (None, "")]
        if len(given) != 1:
            return _json(
                422,
                {
                    "message": "Exactly one of shopify_customer_id, voyado_contact_id, email is required.",
                    "errors": {name: ["invalid"] for name in IDENTIFIERS},
                },
            )
        if given[0] == "shopify_customer_id":
            return _json(404, {"error": "CustomerNotFoundInShopify"})
        contact = self._find(given[0], str(body[given[0]]))
        if contact is None:
            return _json(404, {"error": "ContactNotFound"})
        return _json(
            200,
            {
                "contact": {
                    "voyadoContactId": contact["id"],
                    "attributes": {"email": contact["email"], "bonusPoints": contact["points"]},
                },
                "bonusPoints": contact["points"],
                "memberLevel": contact["level"],
                "activeLoyaltyVouchers": [],
                "activePromotions": [{"id": "p1", "name": "10 % off coffee", "expiresOn": None, "redeemed": False}],
            },
        )

    def _find(self, identifier: str, value: str) -> dict[str, Any] | None:
        if identifier == "email":
            return self.contacts.get(value.lower())
        return next((c for c in self.contacts.values() if c["id"] == value), None)

    def _drip(self) -> bool:
        """The leaky bucket: each request adds 1, it leaks `drip_per_second`; a full bucket refuses."""
        with self._lock:
            now = self.clock()
            if self._leaked_at is not None:
                self._level = max(0.0, self._level - (now - self._leaked_at) * self.drip_per_second)
            self._leaked_at = now
            if self._level + 1 > self.bucket_size:
                self.throttled += 1
                return False
            self._level += 1
            self.accepted += 1
            self.first_at = now if self.first_at is None else self.first_at
            self.last_at = now
            return True


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status=status, headers=headers, content_type="application/json")
