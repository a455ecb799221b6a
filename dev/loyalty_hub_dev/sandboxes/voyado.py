"""A Voyado (eastsideapps bridge) sandbox written from shared/vendor-docs/voyado-eastside-contact-details-api.txt
(cited as "doc L<n>"), not from our client. It answers only what the document shows:

- `POST /api/v1/contact-details` with `Authorization: Bearer <key>` (doc L4-5, L11-12); any other path
  `404 {"message": "UrlNotFound"}` (L162-165).
- Exactly one of `shopify_customer_id`, `voyado_contact_id`, `email` (L23-27): none, or more than one,
  is a 422 with the document's messages and `errors` object (L178-204); an email that is no email
  address is the 422 of L205-213.
- Leaky bucket of 60, refilled 1 per second per shop (L13-16): a full bucket answers
  `429 {"message": "TooManyRequests"}` (L214-217). The document names no Retry-After header, so none
  is sent (docs/decisions.md D30).
- Found: the 200 of L47-145, where `bonusPoints`, `memberLevel`, `activeLoyaltyVouchers`,
  `activePromotions`, `syncFailedActivePromotions` and `syncFailedActiveLoyaltyVouchers` sit inside
  `contact`, beside `attributes`.
- Not found: `404 {"message": "ContactNotFound"}` (L170-173); a Shopify id, which this bridge has no
  shop for here, `404 {"message": "CustomerNotFoundInShopify"}` (L166-169); two contacts with one
  email `409 {"message": "MultipleMatches"}` (L174-177); a contact id that is no UUID
  `400 {"message": "InvalidContactId"}` (L146-149).
- Auth: no or a malformed header `401 {"message": "Unauthorized"}` (L154-157); a key it does not know
  `403 {"message": "Unauthenticated"}` (L158-161). The document shows both without saying which is
  which; this split is our reading (D30).
- `faults` can force the documented 500 `{"message": "UnexpectedError"}` (L218-221).
It counts what it answered, to measure pacing against it.
"""

import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from werkzeug.wrappers import Request, Response

IDENTIFIERS = ("shopify_customer_id", "voyado_contact_id", "email")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
NONE_GIVEN = {  # doc L178-192
    "message": "The shopify customer id field is required when none of voyado contact id / email are present. "
    "(and 2 more errors)",
    "errors": {
        "shopify_customer_id": [
            "The shopify customer id field is required when none of voyado contact id / email are present."
        ],
        "voyado_contact_id": [
            "The voyado contact id field is required when none of shopify customer id / email are present."
        ],
        "email": ["The email field is required when none of shopify customer id / voyado contact id are present."],
    },
}
SEVERAL_GIVEN = {  # doc L193-204
    "message": "Only one of shopify_customer_id, voyado_contact_id, email is allowed. (and 1 more error)",
    "errors": {
        "shopify_customer_id": ["Only one of shopify_customer_id, voyado_contact_id, email is allowed."],
        "email": ["Only one of email, shopify_customer_id, voyado_contact_id is allowed."],
    },
}
BAD_EMAIL = {  # doc L205-213
    "message": "The email must be a valid email address.",
    "errors": {"email": ["The email must be a valid email address."]},
}
Fault = Callable[[Request], int | None]  # a status to force (500), or None


@dataclass
class VoyadoSandbox:
    api_key: str
    bucket_size: int = 60
    drip_per_second: float = 1.0
    clock: Callable[[], float] = time.monotonic
    faults: Fault = lambda _: None
    contacts: list[dict[str, Any]] = field(default_factory=list)
    accepted: int = 0
    throttled: int = 0
    first_at: float | None = None
    last_at: float | None = None
    _level: float = 0.0
    _leaked_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_contact(
        self,
        email: str,
        bonus_points: int = 0,
        member_level: str | None = None,
        promotions: list[dict[str, Any]] | None = None,
        sync_failed: list[dict[str, Any]] | None = None,
    ) -> str:
        contact_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{email}#{len(self.contacts)}"))
        self.contacts.append(
            {
                "id": contact_id,
                "email": email,
                "points": bonus_points,
                "level": member_level,
                "promotions": promotions if promotions is not None else [promotion("Test promotion")],
                "sync_failed": sync_failed or [],
            }
        )
        return contact_id

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self._answer(Request(environ))(environ, start_response)

    def _answer(self, request: Request) -> Response:
        if request.path == "/_sandbox/received":
            return _json(200, {"accepted": self.accepted, "throttled": self.throttled, "contacts": len(self.contacts)})
        if request.path != "/api/v1/contact-details" or request.method != "POST":
            return _json(404, {"message": "UrlNotFound"})
        scheme, _, key = (request.headers.get("Authorization") or "").partition(" ")
        if scheme != "Bearer" or not key:
            return _json(401, {"message": "Unauthorized"})
        if key != self.api_key:
            return _json(403, {"message": "Unauthenticated"})
        if not self._drip():
            return _json(429, {"message": "TooManyRequests"})
        if self.faults(request) == 500:
            return _json(500, {"message": "UnexpectedError"})
        try:
            body = orjson.loads(request.get_data() or b"{}")
        except orjson.JSONDecodeError:
            body = {}
        given = [name for name in IDENTIFIERS if isinstance(body, dict) and body.get(name) not in (None, "")]
        if not given:
            return _json(422, NONE_GIVEN)
        if len(given) > 1:
            return _json(422, SEVERAL_GIVEN)
        return self._lookup(given[0], str(body[given[0]]))

    def _lookup(self, identifier: str, value: str) -> Response:
        if identifier == "shopify_customer_id":
            return _json(404, {"message": "CustomerNotFoundInShopify"})
        if identifier == "email" and not _EMAIL.fullmatch(value):
            return _json(422, BAD_EMAIL)
        if identifier == "voyado_contact_id" and not _UUID.fullmatch(value):
            return _json(400, {"message": "InvalidContactId"})
        if identifier == "email":
            found = [c for c in self.contacts if c["email"].lower() == value.lower()]
        else:
            found = [c for c in self.contacts if c["id"] == value]
        if not found:
            return _json(404, {"message": "ContactNotFound"})
        if len(found) > 1:
            return _json(409, {"message": "MultipleMatches"})
        return _json(200, _found(found[0]))

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


def promotion(name: str) -> dict[str, Any]:
    """An active promotion as doc L88-115 shows one."""
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"promotion#{name}")),
        "promotionId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"promotion-def#{name}")),
        "externalId": None,
        "type": "Multichannel",
        "name": name,
        "expiresOn": None,
        "heading": name,
        "description": name,
        "redeemed": False,
        "redeemedOn": None,
        "imageUrl": None,
        "link": None,
        "redemptionChannels": [{"type": "POS", "valueType": "PERCENT", "value": 10, "instruction": None}],
    }


def _found(contact: dict[str, Any]) -> dict[str, Any]:
    """The 200 of doc L47-145: everything inside `contact`."""
    return {
        "contact": {
            "shopifyCustomerId": None,
            "voyadoContactId": contact["id"],
            "attributes": {
                "firstName": None,
                "lastName": None,
                "email": contact["email"],
                "countryCode": "CZ",
                "externalId": None,
                "memberNumber": None,
                "registrationDate": None,
                "bonusPoints": contact["points"],
                "secrecyMarked": False,
            },
            "bonusPoints": contact["points"],
            "memberLevel": contact["level"],
            "activeLoyaltyVouchers": [],
            "activePromotions": contact["promotions"],
            "syncFailedActivePromotions": contact["sync_failed"],
            "syncFailedActiveLoyaltyVouchers": [],
        }
    }


def _json(status: int, body: Any) -> Response:
    return Response(orjson.dumps(body), status=status, content_type="application/json")
