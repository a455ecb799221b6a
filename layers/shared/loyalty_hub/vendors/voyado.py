"""Voyado, through the eastsideapps bridge: `POST api/v1/contact-details` is a lookup by exactly one of
`shopify_customer_id`, `voyado_contact_id` or `email`. It enriches our customers (contact id, bonus
points, member level, active promotions); nothing is written to Voyado.

Every call first takes a token from the shop's bucket in DynamoDB, shared by all invocations, so the
bridge's leaky bucket (60, refilled 1 per second) is rarely overrun; a 429 still only delays the message.
"""

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from loyalty_hub import aws, secrets
from loyalty_hub.config import VendorWorkerSettings
from loyalty_hub.dal import archive
from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.ratelimit import TokenBucket
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.models.enrichment import EnrichmentUpdate
from loyalty_hub.models.vendor_message import VendorMessage
from loyalty_hub.models.vendors import VoyadoSettings
from loyalty_hub.remote import http
from loyalty_hub.remote.errors import PermanentError, RetryableError, VendorError, credentials_refused, deferred
from loyalty_hub.rules.lookups import lookup_identity, misses, wants_lookup
from loyalty_hub.vendors.worker import tenant_vendor_settings

NOT_FOUND_CODES = ("ContactNotFound", "CustomerNotFoundInShopify")  # doc L166-173
MAX_PACING_SLEEP = 1.5  # a token this close is waited for; a later one delays the message instead

BucketFor = Callable[[str, VoyadoSettings], TokenBucket]
# Our bucket keeps two tokens less than the shop's: a request reaches the bridge a little after its token
# was taken, and that jitter must not overfill the bridge's bucket.
HEADROOM_TOKENS = 2


def shop_bucket(client: Any, table: str, tenant_id: str, shop: VoyadoSettings, **kwargs: Any) -> TokenBucket:
    return TokenBucket(
        client,
        table,
        f"voyado#{tenant_id}",
        capacity=shop.bucket_size - HEADROOM_TOKENS,
        refill_per_second=shop.refill_per_second,
        **kwargs,
    )


def enrichment_from(body: dict[str, Any]) -> dict[str, Any]:
    """What a found contact tells us, read where the document's example puts it: inside `contact`, beside
    `attributes` (shared/vendor-docs/voyado-eastside-contact-details-api.txt L47-145)."""
    contact = body.get("contact") or {}
    return {
        "status": "found",
        "contact_id": contact.get("voyadoContactId"),
        "points": contact.get("bonusPoints"),
        "member_level": contact.get("memberLevel"),
        "promotions": [_promotion(p) for p in contact.get("activePromotions") or [] if isinstance(p, dict)],
        "vouchers": len(contact.get("activeLoyaltyVouchers") or []),
        # Promotions the bridge could not sync to the shop: kept apart, they cannot be redeemed as they are.
        "sync_failed_promotions": [
            {"name": p.get("name"), "error": p.get("error")}
            for p in contact.get("syncFailedActivePromotions") or []
            if isinstance(p, dict)
        ],
    }


def _promotion(promotion: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": promotion.get("name"),
        "expires_on": promotion.get("expiresOn"),
        "redeemed": bool(promotion.get("redeemed")),
    }


class Voyado:
    name = "voyado"

    def __init__(
        self,
        tenants: TenantStore,
        customers: CustomerStore,
        bucket_for: BucketFor,
        enrich: Callable[[EnrichmentUpdate], None],
        secrets: Callable[[str], dict[str, Any]],
        *,
        session: http.Transport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._tenants = tenants
        self._customers = customers
        self._bucket_for = bucket_for
        self._enrich = enrich
        self._secrets = secrets
        self._http = session or http.session(self.name)
        self._sleep = sleep
        self._now = now

    def deliver(
        self,
        tenant_id: str,
        messages: Sequence[VendorMessage],
        *,
        time_left: Callable[[], float] = lambda: float("inf"),
    ) -> dict[int, VendorError]:
        """Looks each customer up at the shop's pace; once the bucket is empty for longer than a short
        wait, or the invocation's time is short, the rest is deferred (not an attempt) for its token."""
        found = tenant_vendor_settings(self._tenants, tenant_id, self.name)
        if found is None:
            return {}
        _, settings = found
        key = str(self._secrets(tenant_id).get("voyado_api_key", ""))
        items = self._customers.get_many(tenant_id, {m.customer_id for m in messages})
        bucket = self._bucket_for(tenant_id, settings)
        errors: dict[int, VendorError] = {}
        for index, message in enumerate(messages):
            item = items.get(message.customer_id)
            if item is None or not wants_lookup(item, self._now()):
                continue  # nothing to find it by, or nothing Voyado could tell us that we do not know
            identity = lookup_identity(item) or {}
            try:
                self._pace(bucket, time_left)
                data = self._lookup(settings, key, identity)
            except VendorError as error:
                errors[index] = error
                if isinstance(error, RetryableError) and error.deferral:
                    # The bucket is empty or time is short: the rest waits too, behind this one.
                    later = deferred(error.reason, error.retry_after or 0.0)
                    errors |= dict.fromkeys(range(index + 1, len(messages)), later)
                    break
                continue
            self._enrich(
                EnrichmentUpdate(
                    tenant_id=tenant_id,
                    customer_id=message.customer_id,
                    vendor="voyado",
                    observed_at=self._now(),
                    data={**data, "identity": identity, **misses(item, identity, data)},
                )
            )
        return errors

    def _pace(self, bucket: TokenBucket, time_left: Callable[[], float]) -> None:
        """Takes a token, waiting for it only when it is near and the invocation has the time."""
        while (wait := bucket.take()) > 0:
            if wait > MAX_PACING_SLEEP or wait >= time_left():
                raise deferred("pacing: the shop's Voyado bucket is empty", wait)
            self._sleep(wait)
        if time_left() <= 0:
            # Out of time with a token in hand: it is spent unused, which only slows us, never the bridge.
            raise deferred("out of time")

    def _lookup(self, settings: VoyadoSettings, key: str, identity: dict[str, str]) -> dict[str, Any]:
        url = f"{str(settings.base_url).rstrip('/')}/api/v1/contact-details"
        headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
        try:
            response = http.send(self._http, "POST", url, what="voyado contact lookup", json=identity, headers=headers)
        except PermanentError as error:
            if error.status == 404 and error.code in NOT_FOUND_CODES:
                return {"status": "not_found"}  # remembered; looked up again on the next change or refresh
            if error.status in (401, 403):
                raise credentials_refused(error) from error
            raise
        return enrichment_from(response.json())


def build(settings: VendorWorkerSettings) -> Voyado:
    """The worker's Voyado, from the vendor workers' settings (vendors.wiring)."""
    dynamodb, sqs = aws.client("dynamodb"), aws.client("sqs")
    return Voyado(
        TenantStore.from_settings(settings),
        CustomerStore(dynamodb, settings.CUSTOMERS_TABLE),
        lambda tenant_id, shop: shop_bucket(dynamodb, settings.RATE_LIMIT_TABLE, tenant_id, shop),
        lambda update: archive.enqueue_enrichment(sqs, settings.INGEST_QUEUE_URL, update),
        secrets.reader(settings, "voyado"),
    )
