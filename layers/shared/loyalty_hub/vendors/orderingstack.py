"""OrderingStack loyalty: purchases posted as events with stable ids (a retry cannot count a purchase
twice), and the account read back so points and card stay in step.

Tokens come from `{base}/auth-oauth2/oauth/token` (client credentials, or the password grant), are
cached until shortly before they expire and shared by a warm execution environment; a 401 renews once.
"""

import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import requests

from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.entities import EntityStore
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.logic.projection import counted_bills
from loyalty_hub.models.enrichment import EnrichmentUpdate
from loyalty_hub.models.tenant import OrderingStackSettings
from loyalty_hub.vendors import http
from loyalty_hub.vendors.errors import PermanentError, RetryableError, VendorError, deferred
from loyalty_hub.vendors.worker import VendorMessage, tenant_vendor_settings

_UNSAFE = re.compile(r"[^a-zA-Z0-9._-]")
# The event types OrderingStack documents have no purchase; UNKNOWN until they confirm one (README).
PURCHASE_EVENT_TYPE = "UNKNOWN"


def account_id(customer_id: str) -> str:
    """3-64 characters of [a-zA-Z0-9._-], one-to-one: other characters become _XX (UTF-8 hex)."""
    encoded = "sty." + "".join(
        c if not _UNSAFE.match(c) and c != "_" else "".join(f"_{b:02X}" for b in c.encode()) for c in customer_id
    )
    return encoded[:64]


def event_id(tenant_id: str, bill_id: str) -> str:
    """Stable per bill, so posting the same purchase again is recognised as the same event."""
    return f"sty.{tenant_id}.{_UNSAFE.sub('_', bill_id)}"[:128]


_tokens = http.TokenCache()


def reset_tokens() -> None:
    _tokens.clear()


class OrderingStack:
    name = "orderingstack"

    def __init__(
        self,
        tenants: TenantStore,
        customers: CustomerStore,
        entities: EntityStore,
        enrich: Callable[[EnrichmentUpdate], None],
        secrets: Callable[[str], dict[str, Any]],
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._tenants = tenants
        self._customers = customers
        self._entities = entities
        self._enrich = enrich
        self._secrets = secrets
        self._http = session or http.session(self.name)
        self._clock = clock
        self._now = now

    def deliver(
        self,
        tenant_id: str,
        messages: Sequence[VendorMessage],
        *,
        time_left: Callable[[], float] = lambda: float("inf"),
    ) -> dict[int, VendorError]:
        found = tenant_vendor_settings(self._tenants, tenant_id, self.name)
        if found is None:
            return {}
        _, settings = found
        secret = self._secrets(tenant_id)
        items = self._customers.get_many(tenant_id, {m.customer_id for m in messages})
        errors: dict[int, VendorError] = {}
        for index, message in enumerate(messages):
            if time_left() <= 0:
                errors |= dict.fromkeys(range(index, len(messages)), deferred("out of time"))
                break
            item = items.get(message.customer_id)
            if item is None:
                continue
            try:
                self._sync(tenant_id, settings, secret, item, message.bill_ids)
            except VendorError as error:
                errors[index] = error
        return errors

    def _sync(
        self,
        tenant_id: str,
        settings: OrderingStackSettings,
        secret: dict[str, Any],
        item: dict[str, Any],
        bill_ids: Sequence[str],
    ) -> None:
        card = (item.get("contact") or {}).get("card")
        path = (
            f"/loyalty-api/api/account/card/{card}"
            if card
            else f"/loyalty-api/api/account/{account_id(item['customer_id'])}"
        )
        try:
            account = self._call(settings, secret, "GET", path, what="account read").json()
        except PermanentError as error:
            if error.status == 404:
                return  # not an OrderingStack member: nothing to post, nothing to read
            raise
        self._enrich(
            EnrichmentUpdate(
                tenant_id=tenant_id,
                customer_id=item["customer_id"],
                vendor="orderingstack",
                observed_at=self._now(),
                data={
                    "account": account.get("id") or account.get("account"),
                    "points": account.get("points"),
                    "card": account.get("card") or card,
                },
            )
        )
        counted = counted_bills(orjson.loads(item.get("ledger") or "{}"))
        bills = self._entities.bodies(tenant_id, "Bills", [b for b in bill_ids if b in counted])
        events = [
            {
                "id": event_id(tenant_id, bill_id),
                "account": account.get("id") or account_id(item["customer_id"]),
                "ts": counted[bill_id].get("t"),
                "type": PURCHASE_EVENT_TYPE,
            }
            for bill_id in sorted(bills)
        ]
        if events:
            self._call(settings, secret, "POST", "/loyalty-api/api/event", what="event post", json=events)

    def _call(
        self,
        settings: OrderingStackSettings,
        secret: dict[str, Any],
        method: str,
        path: str,
        *,
        what: str,
        **kwargs: Any,
    ) -> requests.Response:
        url = f"{str(settings.base_url).rstrip('/')}{path}"

        def attempt(renew: bool) -> requests.Response:
            headers = {
                "Authorization": f"Bearer {self._token(settings, secret, renew=renew)}",
                "x-tenant": settings.tenant,
                "Accept": "application/json",
            }
            return http.send(self._http, method, url, what=f"orderingstack {what}", headers=headers, **kwargs)

        return http.renewing_token_once(attempt)

    def _token(self, settings: OrderingStackSettings, secret: dict[str, Any], *, renew: bool) -> str:
        client_id = str(secret.get("orderingstack_client_id", ""))
        key = (str(settings.base_url), settings.tenant, client_id)
        return _tokens.get(key, self._clock(), lambda: self._new_token(settings, secret, client_id), renew=renew)

    def _new_token(self, settings: OrderingStackSettings, secret: dict[str, Any], client_id: str) -> tuple[str, float]:
        form: dict[str, str] = {"grant_type": settings.grant}
        if settings.grant == "password":
            form |= {
                "scope": "read",
                "username": str(secret.get("orderingstack_username", "")),
                "password": str(secret.get("orderingstack_password", "")),
            }
        try:
            response = http.send(
                self._http,
                "POST",
                f"{str(settings.base_url).rstrip('/')}/auth-oauth2/oauth/token",
                what="orderingstack token",
                data=form,
                auth=(client_id, str(secret.get("orderingstack_client_secret", ""))),
                headers={
                    "X-Tenant": settings.tenant,
                    "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8",
                },
            )
        except PermanentError as error:
            if error.status in (400, 401, 403):
                raise RetryableError(
                    f"OrderingStack refused our client credentials: {error.reason}",
                    status=error.status,
                    retry_after=900,
                ) from error
            raise
        body = response.json()
        return str(body["access_token"]), self._clock() + float(body.get("expires_in", 300))
