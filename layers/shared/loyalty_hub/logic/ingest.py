"""Apply one archived DataSync delivery: store every entity by id, project customers from it.

Ingest is the single writer of a tenant's entities and customers (the ingest queue is FIFO with one
message group per tenant), so reads followed by batched writes cannot race. Customers are written
before entities: if the function dies in between, the entities still look new on the retry and the
projection is applied again, which is harmless because ledger entries carry their own versions.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from functools import cache
from typing import TYPE_CHECKING, Any

from loyalty_hub import aws, config
from loyalty_hub.config import IngestSettings
from loyalty_hub.dal import archive
from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.entities import EntityStore, EntityWrite, StoredVersion
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.logic.customers import CustomerState, format_timestamp
from loyalty_hub.logic.projection import ledger_entry
from loyalty_hub.models.datasync import KNOWN_DOMAINS, DeliveryPointer, parse_envelope
from loyalty_hub.models.enrichment import EnrichmentUpdate
from loyalty_hub.models.tenant import Tenant
from loyalty_hub.storyous import mapping

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass
class IngestDeps:
    tenants: TenantStore
    s3: "S3Client"
    entities: EntityStore
    customers: CustomerStore
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    @classmethod
    def from_settings(cls, settings: IngestSettings) -> "IngestDeps":
        dynamodb = aws.client("dynamodb")
        return cls(
            tenants=TenantStore.from_settings(settings),
            s3=aws.client("s3"),
            entities=EntityStore(dynamodb, settings.ENTITIES_TABLE),
            customers=CustomerStore(dynamodb, settings.CUSTOMERS_TABLE),
        )


@cache
def default_deps() -> IngestDeps:
    return IngestDeps.from_settings(config.load(IngestSettings))


@dataclass
class IngestReport:
    domain: str
    received: int = 0
    written: int = 0
    stale: int = 0
    without_id: int = 0
    customers_changed: int = 0
    known_domain: bool = True


@dataclass(frozen=True)
class Incoming:
    entity_id: str
    version: str
    body: dict[str, Any]


@dataclass
class _Batch:
    """The customers touched by one delivery, loaded once and written once."""

    tenant: Tenant
    states: dict[str, CustomerState] = field(default_factory=dict)

    def load(self, store: CustomerStore, customer_ids: Iterable[str]) -> None:
        wanted = set(customer_ids) - self.states.keys()
        found = store.get_many(self.tenant.tenant_id, wanted)
        for cid in wanted:
            self.states[cid] = CustomerState.from_item(self.tenant.tenant_id, cid, found.get(cid))


def ingest_delivery(deps: IngestDeps, pointer: DeliveryPointer) -> IngestReport:
    tenant = deps.tenants.get(pointer.tenant_id)
    envelope = parse_envelope(archive.get_raw(deps.s3, pointer.bucket, pointer.key))
    domain = envelope.dataDomain
    report = IngestReport(domain=domain, received=len(envelope.data), known_domain=domain in KNOWN_DOMAINS)

    fallback_version = format_timestamp(pointer.received_at)
    incoming, report.without_id = latest_per_id(domain, envelope.data, tenant.zone, fallback_version)
    stored = deps.entities.versions(tenant.tenant_id, domain, incoming)
    fresh = {eid: e for eid, e in incoming.items() if eid not in stored or stored[eid].version < e.version}
    report.stale = len(incoming) - len(fresh)
    if not fresh:
        return report

    batch = _Batch(tenant)
    customer_of: dict[str, str | None] = {}
    if domain == "Bills":
        customer_of = _apply_bills(deps, batch, pointer.place_id, fresh, stored)
    elif domain == "Loyalty":
        customer_of = _apply_loyalty(deps, batch, fresh)
    names_override: dict[str, str] = {}
    if domain == "ItemCategories":
        names_override = {eid: n for eid, e in fresh.items() if (n := mapping.category_name(e.body))}
        batch.load(deps.customers, deps.customers.ids_with_categories(tenant.tenant_id, fresh))

    report.customers_changed = _write_customers(deps, batch, names_override)
    deps.entities.put(
        tenant.tenant_id,
        domain,
        {
            eid: EntityWrite(eid, e.version, e.body, pointer.place_id, pointer.key, customer_of.get(eid))
            for eid, e in fresh.items()
        },
        received_at=format_timestamp(pointer.received_at),
    )
    report.written = len(fresh)
    return report


def apply_enrichment(deps: IngestDeps, update: EnrichmentUpdate) -> bool:
    """Puts a vendor's word onto the customer; True when what DailyStory and vendors see changed."""
    tenant = deps.tenants.get(update.tenant_id)
    batch = _Batch(tenant)
    batch.load(deps.customers, [update.customer_id])
    state = batch.states[update.customer_id]
    if state.version == 0:
        return False  # the customer is not (or no longer) ours: nothing to enrich
    state.set_enrichment(update.vendor, update.data, format_timestamp(update.observed_at))
    return _write_customers(deps, batch, {}) > 0


def latest_per_id(
    domain: str, data: list[dict[str, Any]], zone: tzinfo, fallback_version: str
) -> tuple[dict[str, Incoming], int]:
    """One entry per id: the highest `_lastModifiedAt` (the delivery's receipt time where there is none);
    and how many entities had no id field."""
    latest: dict[str, Incoming] = {}
    without_id = 0
    for body in data:
        entity_id, has_id = mapping.entity_id(domain, body)
        without_id += not has_id
        modified = mapping.parse_datetime(body.get(mapping.VERSION_FIELD), zone)
        version = format_timestamp(modified) if modified else fallback_version
        current = latest.get(entity_id)
        if current is None or current.version < version:
            latest[entity_id] = Incoming(entity_id, version, body)
    return latest, without_id


def _apply_bills(
    deps: IngestDeps,
    batch: _Batch,
    place_id: str,
    fresh: Mapping[str, Incoming],
    stored: Mapping[str, StoredVersion],
) -> dict[str, str | None]:
    zone = batch.tenant.zone
    facts = {bid: mapping.bill_facts(bid, e.body, zone) for bid, e in fresh.items()}
    products = {p for f in facts.values() for p in f.uncategorized_products}
    product_category = {
        pid: cid
        for pid, body in deps.entities.bodies(batch.tenant.tenant_id, "Items", products).items()
        if (cid := mapping.item_category_id(body))
    }
    previous = {bid: stored[bid].customer_id for bid in fresh if bid in stored}
    batch.load(
        deps.customers,
        {f.customer_id for f in facts.values() if f.customer_id} | {c for c in previous.values() if c},
    )
    for bill_id, f in facts.items():
        version = fresh[bill_id].version
        old = previous.get(bill_id)
        if old and old != f.customer_id:
            batch.states[old].remove_bill(bill_id, version)
        if f.customer_id:
            categories = tuple(
                sorted(
                    {
                        *f.category_ids,
                        *(product_category[p] for p in f.uncategorized_products if p in product_category),
                    }
                )
            )
            batch.states[f.customer_id].upsert_bill(bill_id, ledger_entry(f, version, place_id, categories))
    return {bid: f.customer_id for bid, f in facts.items()}


def _apply_loyalty(deps: IngestDeps, batch: _Batch, fresh: Mapping[str, Incoming]) -> dict[str, str | None]:
    batch.load(deps.customers, fresh)
    for customer_id, e in fresh.items():
        # A deleted loyalty member keeps its purchase history but loses its personal data.
        contact = None if mapping.is_deleted(e.body) else mapping.contact_facts(customer_id, e.body)
        batch.states[customer_id].set_contact(contact, e.version)
    return {cid: cid for cid in fresh}


def _write_customers(deps: IngestDeps, batch: _Batch, names_override: Mapping[str, str]) -> int:
    if not batch.states:
        return 0
    wanted = {c for state in batch.states.values() for c in state.category_ids()} - names_override.keys()
    names = {
        cid: name
        for cid, body in deps.entities.bodies(batch.tenant.tenant_id, "ItemCategories", wanted).items()
        if (name := mapping.category_name(body))
    } | dict(names_override)
    now = deps.clock()
    # A customer that exists nowhere yet and gained nothing stays uncreated (e.g. a bill moved off it).
    candidates = [s for s in batch.states.values() if s.dirty or s.version > 0]
    view_changed = sum(state.reproject(names, now) for state in candidates)
    deps.customers.put_many([state.to_item() for state in candidates if state.dirty])
    return view_changed
