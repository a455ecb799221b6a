"""The Storyous REST API, for the scheduled pull: bills of a place since a cursor, and a bill's details.

Tokens come from the login host (client credentials in a form body; the answer carries `expires_at`,
an ISO time, not `expires_in`). The token endpoint is rate limited, so a token is cached per client
and renewed a minute before it expires, or once when the API answers 401.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from loyalty_hub import warm
from loyalty_hub.remote import http
from loyalty_hub.remote.errors import PermanentError, RetryableError

AUTH_FAILURE_STATUSES = (400, 401, 403)


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str

    @classmethod
    def from_secret(cls, secret: dict[str, Any]) -> "Credentials | None":
        """The tenant's Storyous API client (`make admin ARGS="set-storyous-client ..."`), if it has one."""
        client_id, client_secret = secret.get("storyous_client_id"), secret.get("storyous_client_secret")
        if not client_id or not client_secret:
            return None
        return cls(str(client_id), str(client_secret))


@dataclass(frozen=True)
class BillsPage:
    bills: list[dict[str, Any]]
    next_page: str | None  # a path relative to the API host, carrying the filters and `lastBillId`


class ClientRefused(PermanentError):
    """The login host refused the tenant's client id or secret: a person must fix the credentials."""


_tokens = http.TokenCache()


@warm.forgets
def reset_tokens() -> None:
    _tokens.clear()


class StoryousApi:
    def __init__(
        self,
        api_url: str,
        auth_url: str,
        *,
        session: http.Transport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._api = api_url.rstrip("/")
        self._auth_url = auth_url
        self._http = session or http.session("storyous")
        self._clock = clock

    def bills(
        self, credentials: Credentials, merchant_id: str, place_id: str, *, modified_since: datetime, limit: int
    ) -> BillsPage:
        """The first page of the place's bills changed since `modified_since` (newest first)."""
        path = f"/bills/{quote(merchant_id, safe='')}-{quote(place_id, safe='')}"
        params = {"modifiedSince": modified_since.isoformat(), "limit": str(limit)}
        return self._page(self._get(credentials, path, params=params))

    def next_bills(self, credentials: Credentials, next_page: str) -> BillsPage:
        """The page `nextPage` of an earlier answer points to."""
        parts = urlsplit(next_page)
        if parts.scheme or parts.netloc or not parts.path.startswith("/bills/"):
            raise PermanentError(f"unexpected nextPage from Storyous: {next_page[:200]}")
        return self._page(self._get(credentials, next_page))

    def bill(self, credentials: Credentials, merchant_id: str, place_id: str, bill_id: str) -> dict[str, Any]:
        """One bill with its items (the list leaves them out)."""
        path = f"/bills/{quote(merchant_id, safe='')}-{quote(place_id, safe='')}/{quote(bill_id, safe='')}"
        body = self._get(credentials, path)
        data = body.get("data")  # some answers wrap the bill in `data`, as the list does
        return data if isinstance(data, dict) else body

    @staticmethod
    def _page(body: dict[str, Any]) -> BillsPage:
        data = body.get("data")
        if not isinstance(data, list):
            raise RetryableError("Storyous answered a bills page without a data list")
        next_page = body.get("nextPage")
        return BillsPage([b for b in data if isinstance(b, dict)], str(next_page) if next_page else None)

    def _get(self, credentials: Credentials, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        def attempt(renew: bool) -> http.Response:
            headers = {"Authorization": f"Bearer {self._token(credentials, renew=renew)}", "Accept": "application/json"}
            return http.send(
                self._http, "GET", f"{self._api}{path}", what="storyous bills read", params=params, headers=headers
            )

        body = http.renewing_token_once(attempt).json()
        if not isinstance(body, dict):
            raise RetryableError(f"Storyous answered {path} with a non-object")
        return body

    def _token(self, credentials: Credentials, *, renew: bool) -> str:
        key = (self._auth_url, credentials.client_id)
        return _tokens.get(key, self._clock(), lambda: self._new_token(credentials), renew=renew)

    def _new_token(self, credentials: Credentials) -> tuple[str, float]:
        try:
            response = http.send(
                self._http,
                "POST",
                self._auth_url,
                what="storyous token",
                data={
                    "client_id": credentials.client_id,
                    "client_secret": credentials.client_secret,
                    "grant_type": "client_credentials",
                },
            )
        except PermanentError as error:
            if error.status in AUTH_FAILURE_STATUSES:
                raise ClientRefused(
                    f"Storyous refused the API client {credentials.client_id}: {error.reason}", status=error.status
                ) from error
            raise
        body = response.json()
        try:
            return str(body["access_token"]), _expiry(body, self._clock())
        except (KeyError, TypeError, ValueError) as exc:
            raise RetryableError(f"Storyous answered the token request without a usable token: {exc}") from exc


def _expiry(body: dict[str, Any], now: float) -> float:
    """`expires_at` as epoch seconds (UTC when it has no offset); `expires_in` too, should Storyous send it."""
    if body.get("expires_at"):
        moment = datetime.fromisoformat(str(body["expires_at"]))
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    return now + float(body["expires_in"])
