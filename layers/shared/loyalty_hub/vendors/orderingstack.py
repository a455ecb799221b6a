"""OrderingStack loyalty: purchases posted as events, each id once, and the account read back so points
and card stay in step (shared/vendor-docs/orderingstack-loyalty-api.txt).

A documented event carries no amount (doc L612-641), so an id posted again is either dropped or counted
twice; the ledger (VendorLedgerTable) notes each bill's event when it is posted, so a retried or
redelivered message posts nothing new. A bill that stops counting after its event was posted cannot be
withdrawn by any documented call: it is counted (`OrderingStackWithdrawnAfterPost`) and kept in the
customer's enrichment (`withdrawn`) for a person to act on (docs/decisions.md D31).

Tokens come from `{base}/auth-oauth2/oauth/token` (client credentials, or the password grant), are
cached until shortly before they expire and shared by a warm execution environment; a 401 renews once.
"""

import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from loyalty_hub import aws, secrets, warm
from loyalty_hub.config import VendorWorkerSettings
from loyalty_hub.dal import archive
from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.ledger import LedgerStore
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.dal.vendor_ledger import VendorLedger
from loyalty_hub.models.enrichment import EnrichmentUpdate
from loyalty_hub.models.vendor_message import VendorMessage
from loyalty_hub.models.vendors import OrderingStackSettings
from loyalty_hub.remote import http
from loyalty_hub.remote.errors import PermanentError, VendorError, credentials_refused, deferred
from loyalty_hub.rules.ledger import counted_entries, item_slots
from loyalty_hub.vendors.fates import vendor_metric
from loyalty_hub.vendors.worker import tenant_vendor_settings

_KEEP = re.compile(r"[A-Za-z0-9-]")
ACCOUNT = re.compile(r"^[a-zA-Z0-9._-]{3,64}$")  # `account` and `card`, doc L580-582 and L624-628
# The event types OrderingStack documents have no purchase; UNKNOWN until they confirm one (D19).
PURCHASE_EVENT_TYPE = "UNKNOWN"


def _encode(value: str) -> str:
    """One-to-one into [A-Za-z0-9_-]: letters, digits and '-' stay, every other character (also '_' and
    '.', so '.' can separate parts) becomes _XX per UTF-8 byte."""
    return "".join(c if _KEEP.fullmatch(c) else "".join(f"_{b:02X}" for b in c.encode()) for c in value)


def account_id(customer_id: str) -> str:
    """Our account id for a customer: 3-64 of [a-zA-Z0-9._-], one-to-one; too long is refused, never cut."""
    encoded = "sty." + _encode(customer_id)
    if len(encoded) > 64:
        raise PermanentError(f"orderingstack: the customer id encodes to {len(encoded)} characters (account ids: 64)")
    return encoded


def event_id(tenant_id: str, bill_id: str) -> str:
    """Stable per bill and one-to-one ([a-zA-Z0-9_.-]+, doc L636-638): bills X/1 and X_1 stay two events."""
    return f"sty.{_encode(tenant_id)}.{_encode(bill_id)}"


def card_path(card: str) -> str:
    """The account-by-card path for a card the document's pattern allows; anything else is refused, so no
    card number can change the request's path or query."""
    if not ACCOUNT.fullmatch(card):
        raise PermanentError("orderingstack: the loyalty card number does not fit [a-zA-Z0-9._-]{3,64}")
    return f"/loyalty-api/api/account/card/{quote(card, safe='')}"


def _event(tenant_id: str, bill_id: str, holder: str, entry: dict[str, Any]) -> dict[str, Any]:
    """A purchase as a documented event: only the fields doc L624-641 names; `ts` when the bill has one."""
    event: dict[str, Any] = {"id": event_id(tenant_id, bill_id), "account": holder, "type": PURCHASE_EVENT_TYPE}
    if entry.get("t"):
        event["ts"] = entry["t"]
    return event


_tokens = http.TokenCache()


@warm.forgets
def reset_tokens() -> None:
    _tokens.clear()


class OrderingStack:
    name = "orderingstack"

    def __init__(
        self,
        tenants: TenantStore,
        customers: CustomerStore,
        ledger: VendorLedger,
        enrich: Callable[[EnrichmentUpdate], None],
        secrets: Callable[[str], dict[str, Any]],
        *,
        bills: LedgerStore,
        session: http.Transport | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._tenants = tenants
        self._customers = customers
        self._bills = bills
        self._ledger = ledger
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
            if item is None or item.get("erased"):
                continue  # gone, or erased: OrderingStack documents no delete, so nothing is sent (D47)
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
        own = f"/loyalty-api/api/account/{quote(account_id(item['customer_id']), safe='')}"
        path = card_path(str(card)) if card else own
        try:
            account = self._call(settings, secret, "GET", path, what="account read").json()
        except PermanentError as error:
            if error.status == 404:
                return  # not an OrderingStack member: nothing to post, nothing to read
            raise
        customer_id = item["customer_id"]
        stored = self._bills.get(tenant_id, {(customer_id, b) for b in bill_ids})
        slots = item_slots(item, {b: s for (_, b), s in stored.items()})
        counted = counted_entries(slots, bill_ids)
        sent = self._ledger.entries(tenant_id, [b for b in bill_ids if (s := slots.get(b)) and s.entry is not None])
        holder = str(account.get("id") or account_id(item["customer_id"]))
        new = {b: _event(tenant_id, b, holder, counted[b]) for b in sorted(bill_ids) if b in counted and b not in sent}
        now = self._now().isoformat()
        if new:
            self._call(settings, secret, "POST", "/loyalty-api/api/event", what="event post", json=list(new.values()))
            # Noted after the post: a crash in between posts these again once, the only repeat left.
            self._ledger.note(tenant_id, {b: {"event_id": e["id"], "posted_at": now} for b, e in new.items()})
        withdrawn = {b: e for b, e in sent.items() if b not in counted and not e.get("withdrawn_at")}
        if withdrawn:
            self._ledger.note(tenant_id, {b: {**e, "withdrawn_at": now} for b, e in withdrawn.items()})
            vendor_metric(self.name, tenant_id, "WithdrawnAfterPost", len(withdrawn))
        known = ((item.get("enrichment") or {}).get("orderingstack") or {}).get("withdrawn") or []
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
                    # Posted, then refunded or deleted: OrderingStack still counts them (no documented reversal).
                    "withdrawn": sorted({*known, *withdrawn}),
                },
            )
        )

    def _call(
        self,
        settings: OrderingStackSettings,
        secret: dict[str, Any],
        method: str,
        path: str,
        *,
        what: str,
        **kwargs: Any,
    ) -> http.Response:
        url = f"{str(settings.base_url).rstrip('/')}{path}"

        def attempt(renew: bool) -> http.Response:
            headers = {
                "Authorization": f"Bearer {self._token(settings, secret, renew=renew)}",
                "x-tenant": settings.tenant,
                "Accept": "application/json",
            }
            return http.send(self._http, method, url, what=f"orderingstack {what}", headers=headers, **kwargs)

        try:
            return http.renewing_token_once(attempt)
        except PermanentError as error:
            if error.status in (401, 403):  # a fresh token refused too: the client's grants, not the token
                raise credentials_refused(error) from error
            raise

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
            if error.status in (400, 401, 403):  # OAuth answers invalid_client / invalid_grant with 400
                raise credentials_refused(error) from error
            raise
        body = response.json()
        return str(body["access_token"]), self._clock() + float(body.get("expires_in", 300))


def build(settings: VendorWorkerSettings) -> OrderingStack:
    """The worker's OrderingStack, from the vendor workers' settings (vendors.wiring)."""
    dynamodb, sqs = aws.client("dynamodb"), aws.client("sqs")
    return OrderingStack(
        TenantStore.from_settings(settings),
        CustomerStore(dynamodb, settings.CUSTOMERS_TABLE),
        VendorLedger(dynamodb, settings.VENDOR_LEDGER_TABLE, "orderingstack"),
        lambda update: archive.enqueue_enrichment(sqs, settings.INGEST_QUEUE_URL, update),
        secrets.reader(settings, "orderingstack"),
        bills=LedgerStore(dynamodb, settings.ENTITIES_TABLE),
    )
