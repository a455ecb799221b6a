"""Apply one archived DataSync delivery: store every entity by id, project customers from it.

Ingest is the single writer of a tenant's entities and customers (the ingest queue is FIFO with one
message group per tenant), so reads followed by batched writes cannot race. One bad record costs one
record: an entity that cannot be read or stored is quarantined with its reason (`quarantine list`),
and the rest of its delivery is stored on the same attempt. Customers are written
before entities: if the function dies in between, the entities still look new on the retry and the
projection is applied again, which is harmless because ledger entries carry their own versions (and a
customer's ledger before its summary: logic.customer_writes).
"""

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from loyalty_hub import aws, collector, config, warm
from loyalty_hub.config import IngestSettings
from loyalty_hub.dal import archive
from loyalty_hub.dal.appearances import Appearances, ErasureLog
from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.deliveries import DeliveryMarks
from loyalty_hub.dal.entities import DeliveryItems, EntityStore, StoredVersion
from loyalty_hub.dal.ledger import LedgerStore
from loyalty_hub.dal.quarantine import QuarantineStore
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.errors import BadRequest, InvalidEnvelope, NotFound
from loyalty_hub.logic import erasure
from loyalty_hub.logic.bills import CustomerBatch, apply_bills
from loyalty_hub.logic.customer_writes import CustomerStores, repair, write_customers
from loyalty_hub.logic.incoming import Incoming, latest_per_id, read_entities
from loyalty_hub.logic.quarantine import DeliveryQuarantine
from loyalty_hub.models import structs
from loyalty_hub.models.datasync import KNOWN_DOMAINS, DeliveryPointer, parse_envelope
from loyalty_hub.models.enrichment import EnrichmentUpdate
from loyalty_hub.models.erasure import ErasureRequest
from loyalty_hub.models.tenant import Tenant
from loyalty_hub.rules.timestamps import format_timestamp
from loyalty_hub.storyous import loyalty, mapping

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass
class IngestDeps:
    tenants: TenantStore
    s3: "S3Client"
    entities: EntityStore
    customers: CustomerStore
    quarantine: QuarantineStore
    marks: DeliveryMarks
    appearances: Appearances
    erasures: ErasureLog
    ledger: LedgerStore
    raw_bucket: str
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    @classmethod
    def from_settings(cls, settings: IngestSettings) -> "IngestDeps":
        dynamodb = aws.client("dynamodb")
        return cls(
            tenants=TenantStore.from_settings(settings),
            s3=aws.client("s3"),
            entities=EntityStore(dynamodb, settings.ENTITIES_TABLE),
            customers=CustomerStore(dynamodb, settings.CUSTOMERS_TABLE),
            quarantine=QuarantineStore(dynamodb, settings.QUARANTINE_TABLE),
            marks=DeliveryMarks(dynamodb, settings.ENTITIES_TABLE),
            appearances=Appearances(dynamodb, settings.ENTITIES_TABLE, settings.RAW_RETENTION_DAYS),
            erasures=ErasureLog(dynamodb, settings.ENTITIES_TABLE),
            ledger=LedgerStore(dynamodb, settings.ENTITIES_TABLE),
            raw_bucket=settings.RAW_BUCKET,
        )

    def stores(self) -> CustomerStores:
        return CustomerStores(self.entities, self.customers, self.ledger)

    def copies(self) -> erasure.CopyStores:
        return erasure.CopyStores(self.entities, self.quarantine, self.appearances, self.s3, self.raw_bucket)


@warm.cached
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
    quarantined: int = 0  # entities (or the whole delivery) that could not be stored, with their reasons
    resolved: int = 0  # quarantined records a retry stored (or found superseded) this time
    duplicate: bool = False  # the same body was applied before: nothing was read or written
    repaired: int = 0  # customers whose summaries an attempt that died half way had left behind (D50)


@collector.paused()
def ingest_delivery(deps: IngestDeps, pointer: DeliveryPointer) -> IngestReport:
    """Stores every entity it can and quarantines each one it cannot (with its reason), on one attempt;
    only a transient failure (`Unavailable`) leaves the delivery to be retried whole. A body applied
    before is skipped after one read (its mark is written once the whole delivery went through)."""
    if not pointer.reapply and (first := deps.marks.applied_as(pointer)) is not None:
        if first != pointer.key:  # the same body archived again on another day: erasure must find it too
            deps.appearances.record_copy(pointer)
        return IngestReport(domain=pointer.domain, duplicate=True)
    quarantine = DeliveryQuarantine(pointer, format_timestamp(deps.clock()))
    try:
        tenant = deps.tenants.get(pointer.tenant_id)
        envelope = parse_envelope(archive.get_raw(deps.s3, pointer.bucket, pointer.key), compact=True)
        entities = read_entities(envelope.dataDomain, envelope.data)
    except (NotFound, BadRequest, InvalidEnvelope, archive.ArchiveMissing) as exc:
        quarantine.delivery("delivery", str(exc))
        report = IngestReport(domain=pointer.domain, quarantined=1)
        report.resolved = quarantine.flush(deps.quarantine)
        return report
    domain = envelope.dataDomain
    report = IngestReport(domain=domain, received=len(envelope.data), known_domain=domain in KNOWN_DOMAINS)

    texts = [structs.raw_text(raw) for raw in envelope.data]  # stored as they came, not encoded again
    incoming, report.without_id, poison = latest_per_id(
        domain, entities, tenant.zone, format_timestamp(pointer.received_at), texts
    )
    for p in poison:
        quarantine.entity(p.entity_id, p.code, p.reason, p.raw_version)
    quarantine.versions = {eid: e.raw_version for eid, e in incoming.items()}
    stored = deps.entities.versions(tenant.tenant_id, domain, incoming)
    fresh = {eid: e for eid, e in incoming.items() if eid not in stored or stored[eid].version < e.version}
    report.stale = len(incoming) - len(fresh)
    items = _checked_items(tenant_id=tenant.tenant_id, domain=domain, pointer=pointer, fresh=fresh,
                           received_at=format_timestamp(pointer.received_at), quarantine=quarantine)  # fmt: skip
    batch = CustomerBatch(tenant)
    if domain == "Bills":  # the only deliveries that write ledgers: first finish any attempt that died
        report.repaired = repair(deps.stores(), tenant, deps.clock())
    names_override = _project(deps, batch, pointer=pointer, domain=domain, fresh=fresh, stored=stored,
                              quarantine=quarantine)  # fmt: skip
    report.customers_changed = _store(deps, batch, names_override=names_override, fresh=fresh, items=items,
                                      quarantine=quarantine)  # fmt: skip
    report.written = len(fresh)
    report.quarantined = len(quarantine.records)
    report.resolved = quarantine.flush(deps.quarantine)
    # Every Loyalty record's id (stale or quarantined too: the archive holds its person), and the customers
    # the delivery's bills changed.
    named = set(batch.touched_by)
    if domain == "Loyalty":
        named |= set(incoming) | {p.entity_id for p in poison if p.code != "invalid_id"}
    deps.appearances.record(pointer, named, str(envelope.source or "webhook"))
    stores = deps.copies()
    for customer_id in batch.erased_now:  # Storyous deleted these members: erase their copies too (D47)
        _erase_copies(deps, stores, tenant, ErasureRequest(
            tenant_id=tenant.tenant_id, customer_id=customer_id, reason="loyalty_deleted",
            request_id=pointer.sha256[:16] + hashlib.sha256(customer_id.encode()).hexdigest()[:16],
            requested_at=deps.clock(), requested_by="storyous",
        ), erasure.ErasureReport(customer="erased"))  # fmt: skip
    deps.marks.mark(pointer, deps.clock())
    return report


def _project(
    deps: IngestDeps,
    batch: CustomerBatch,
    *,
    pointer: DeliveryPointer,
    domain: str,
    fresh: dict[str, Incoming],
    stored: Mapping[str, StoredVersion],
    quarantine: DeliveryQuarantine,
) -> dict[str, str]:
    """The fresh entities onto the customers they touch; returns the category names they rename."""
    if domain == "Bills":
        apply_bills(
            deps.entities, deps.customers, deps.ledger, batch, place_id=pointer.place_id, fresh=fresh, stored=stored,
            quarantine=quarantine,
        )  # fmt: skip
    elif domain == "Loyalty":
        _apply_loyalty(deps, batch, fresh, format_timestamp(deps.clock()))
    elif domain == "ItemCategories":
        batch.load(deps.customers, deps.customers.ids_with_categories(batch.tenant.tenant_id, fresh))
        for state in batch.states.values():
            batch.touch(state.customer_id, set(state.category_ids()) & fresh.keys())
        return {eid: n for eid, e in fresh.items() if (n := mapping.category_name(e.body))}
    return {}


def _store(
    deps: IngestDeps,
    batch: CustomerBatch,
    *,
    names_override: dict[str, str],
    fresh: dict[str, Incoming],
    items: dict[str, dict[str, Any]],
    quarantine: DeliveryQuarantine,
) -> int:
    """Customers first, then entities (module docstring); an entity whose customer or own item was
    refused is quarantined and dropped from `fresh`. Returns the customers changed."""
    changed, refused = write_customers(deps.stores(), batch, names_override, deps.clock())
    for customer_id, error in refused.items():
        for entity_id in batch.touched_by.get(customer_id, ()):
            if fresh.pop(entity_id, None) is not None:
                quarantine.entity(entity_id, error.code, f"its customer record was refused: {error.reason}")
    for entity_id, error in deps.entities.put_items([items[eid] for eid in fresh]).items():
        fresh.pop(entity_id, None)
        quarantine.entity(entity_id, error.code, error.reason)
    return changed


def apply_enrichment(deps: IngestDeps, update: EnrichmentUpdate) -> bool:
    """Puts a vendor's word onto the customer; True when what DailyStory and vendors see changed."""
    tenant = deps.tenants.get(update.tenant_id)
    batch = CustomerBatch(tenant)
    batch.load(deps.customers, [update.customer_id])
    state = batch.states[update.customer_id]
    if state.version == 0:
        return False  # the customer is not (or no longer) ours: nothing to enrich
    state.set_enrichment(update.vendor, update.data, format_timestamp(update.observed_at))
    changed, refused = write_customers(deps.stores(), batch, {}, deps.clock())
    if refused:
        # Nothing to quarantine: the vendor is asked again on the next change or refresh.
        raise refused[update.customer_id]
    return changed > 0


def _checked_items(
    *,
    tenant_id: str,
    domain: str,
    pointer: DeliveryPointer,
    fresh: dict[str, Incoming],
    received_at: str,
    quarantine: DeliveryQuarantine,
) -> dict[str, dict[str, Any]]:
    """The entity items to write, checked against DynamoDB's limits before anything is projected from
    them: an entity that cannot be stored must not count in its customer either."""
    builder = DeliveryItems(tenant_id, domain, place_id=pointer.place_id, delivery_key=pointer.key,
                            received_at=received_at)  # fmt: skip
    items: dict[str, dict[str, Any]] = {}
    for eid, e in list(fresh.items()):
        # A bill's item names its customer (the owner a later version moves it from), in its size check too.
        customer_id = mapping.bill_customer_id(e.body) if domain == "Bills" else None
        item, problem = builder.checked(eid, e.version, e.text, customer_id)
        if problem:
            del fresh[eid]
            quarantine.entity(eid, *problem)
        else:
            items[eid] = item
    return items


def _apply_loyalty(deps: IngestDeps, batch: CustomerBatch, fresh: Mapping[str, Incoming], now: str) -> None:
    batch.load(deps.customers, fresh)
    for customer_id, e in fresh.items():
        state = batch.states[customer_id]
        reason = loyalty.erasure_reason(e.body)
        state.set_contact(None if reason else loyalty.contact_facts(customer_id, e.body), e.version)
        if reason is not None:
            # A member deleted (or erased before, on replay) keeps its purchase history, not its person.
            state.erase(reason, now)
            if reason == "loyalty_deleted":
                batch.erased_now.add(customer_id)
        batch.touch(customer_id, [customer_id])


def apply_erasure(deps: IngestDeps, request: ErasureRequest) -> erasure.ErasureReport:
    """Erases the customer: its item here (ingest writes customers), then every other copy."""
    tenant = deps.tenants.get(request.tenant_id)
    batch = CustomerBatch(tenant)
    batch.load(deps.customers, [request.customer_id])
    state = batch.states[request.customer_id]
    report = erasure.ErasureReport()
    if state.version > 0:
        erased_now = state.erase(request.reason, format_timestamp(deps.clock()))
        report.customer = "erased" if erased_now else "already erased"
        _, refused = write_customers(deps.stores(), batch, {}, deps.clock())
        if refused:
            raise refused[request.customer_id]
    _erase_copies(deps, deps.copies(), tenant, request, report)
    return report


def _erase_copies(
    deps: IngestDeps, stores: erasure.CopyStores, tenant: Tenant, request: ErasureRequest, report: erasure.ErasureReport
) -> None:
    erasure.scrub_copies(stores, tenant, request.customer_id, deps.clock(), report)
    deps.erasures.write(tenant.tenant_id, request.request_id, erasure.log_entry(request, report, deps.clock()))
