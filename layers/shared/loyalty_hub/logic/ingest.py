"""Apply one archived DataSync delivery: store every entity by id, project customers from it.

Ingest is the single writer of a tenant's entities and customers (the ingest queue is FIFO with one
message group per tenant), so reads followed by batched writes cannot race. One bad record costs one
record: an entity that cannot be read or stored is quarantined with its reason (`quarantine list`),
and the rest of its delivery is stored on the same attempt. Customers are written
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
from loyalty_hub.dal.quarantine import QuarantineStore
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.errors import BadRequest, InvalidEnvelope, NotFound, Refused
from loyalty_hub.limits import number_problem
from loyalty_hub.models.datasync import KNOWN_DOMAINS, DeliveryPointer, parse_envelope
from loyalty_hub.models.enrichment import EnrichmentUpdate
from loyalty_hub.models.ids import entity_id_problem
from loyalty_hub.models.quarantine import DELIVERY, QuarantineRecord, display_id, quarantine_id
from loyalty_hub.models.tenant import Tenant
from loyalty_hub.rules.customer import CustomerState
from loyalty_hub.rules.projection import ledger_entry
from loyalty_hub.rules.timestamps import format_timestamp
from loyalty_hub.storyous import mapping

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass
class IngestDeps:
    tenants: TenantStore
    s3: "S3Client"
    entities: EntityStore
    customers: CustomerStore
    quarantine: QuarantineStore
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
    quarantined: int = 0  # entities (or the whole delivery) that could not be stored, with their reasons
    resolved: int = 0  # quarantined records a retry stored (or found superseded) this time


@dataclass(frozen=True)
class Incoming:
    entity_id: str
    version: str
    body: dict[str, Any]
    raw_version: str = ""  # `_lastModifiedAt` as delivered: part of the entity's quarantine id


@dataclass
class _Batch:
    """The customers touched by one delivery, loaded once and written once."""

    tenant: Tenant
    states: dict[str, CustomerState] = field(default_factory=dict)
    touched_by: dict[str, set[str]] = field(default_factory=dict)  # customer id -> the entities that changed it

    def touch(self, customer_id: str, entity_ids: Iterable[str]) -> None:
        self.touched_by.setdefault(customer_id, set()).update(entity_ids)

    def load(self, store: CustomerStore, customer_ids: Iterable[str]) -> None:
        wanted = set(customer_ids) - self.states.keys()
        found = store.get_many(self.tenant.tenant_id, wanted)
        for cid in wanted:
            self.states[cid] = CustomerState.from_item(self.tenant.tenant_id, cid, found.get(cid))


def ingest_delivery(deps: IngestDeps, pointer: DeliveryPointer) -> IngestReport:
    """Stores every entity it can and quarantines each one it cannot (with its reason), on one attempt;
    only a transient failure (`Unavailable`) leaves the delivery to be retried whole."""
    quarantine = _Quarantine(pointer, format_timestamp(deps.clock()))
    try:
        tenant = deps.tenants.get(pointer.tenant_id)
        envelope = parse_envelope(archive.get_raw(deps.s3, pointer.bucket, pointer.key))
    except (NotFound, BadRequest, InvalidEnvelope, archive.ArchiveMissing) as exc:
        quarantine.delivery("delivery", str(exc))
        report = IngestReport(domain=pointer.domain, quarantined=1)
        report.resolved = quarantine.flush(deps.quarantine)
        return report
    domain = envelope.dataDomain
    report = IngestReport(domain=domain, received=len(envelope.data), known_domain=domain in KNOWN_DOMAINS)

    fallback_version = format_timestamp(pointer.received_at)
    incoming, report.without_id, poison = latest_per_id(domain, envelope.data, tenant.zone, fallback_version)
    for p in poison:
        quarantine.entity(p.entity_id, p.code, p.reason, p.raw_version)
    quarantine.versions = {eid: e.raw_version for eid, e in incoming.items()}
    stored = deps.entities.versions(tenant.tenant_id, domain, incoming)
    fresh = {eid: e for eid, e in incoming.items() if eid not in stored or stored[eid].version < e.version}
    report.stale = len(incoming) - len(fresh)
    received_at = format_timestamp(pointer.received_at)
    items = _checked_items(
        deps,
        tenant_id=tenant.tenant_id,
        domain=domain,
        pointer=pointer,
        fresh=fresh,
        received_at=received_at,
        quarantine=quarantine,
    )

    batch = _Batch(tenant)
    names_override: dict[str, str] = {}
    if domain == "Bills":
        for bill_id, customer_id in _apply_bills(
            deps, batch, place_id=pointer.place_id, fresh=fresh, stored=stored, quarantine=quarantine
        ).items():
            if customer_id:
                items[bill_id]["customer_id"] = {"S": customer_id}
    elif domain == "Loyalty":
        _apply_loyalty(deps, batch, fresh)
    elif domain == "ItemCategories":
        names_override = {eid: n for eid, e in fresh.items() if (n := mapping.category_name(e.body))}
        batch.load(deps.customers, deps.customers.ids_with_categories(tenant.tenant_id, fresh))
        for state in batch.states.values():
            batch.touch(state.customer_id, set(state.category_ids()) & fresh.keys())

    report.customers_changed, refused = _write_customers(deps, batch, names_override)
    for customer_id, error in refused.items():
        for entity_id in batch.touched_by.get(customer_id, ()):
            if fresh.pop(entity_id, None) is not None:
                quarantine.entity(entity_id, error.code, f"its customer record was refused: {error.reason}")
    for entity_id, error in deps.entities.put_items([items[eid] for eid in fresh]).items():
        fresh.pop(entity_id, None)
        quarantine.entity(entity_id, error.code, error.reason)
    report.written = len(fresh)
    report.quarantined = len(quarantine.records)
    report.resolved = quarantine.flush(deps.quarantine)
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
    changed, refused = _write_customers(deps, batch, {})
    if refused:
        # Nothing to quarantine: the vendor is asked again on the next change or refresh.
        raise refused[update.customer_id]
    return changed > 0


@dataclass(frozen=True)
class Poison:
    """An entity whose id or version cannot be read: quarantined by ingest, still archived by the pull."""

    entity_id: str
    code: str
    reason: str
    raw_version: str
    body: dict[str, Any]


def latest_per_id(
    domain: str, data: list[dict[str, Any]], zone: tzinfo, fallback_version: str
) -> tuple[dict[str, Incoming], int, list[Poison]]:
    """One entry per id: the highest `_lastModifiedAt` (the delivery's receipt time where there is none);
    how many entities had no id field; and the entities whose id or version cannot be read."""
    latest: dict[str, Incoming] = {}
    without_id = 0
    poison: list[Poison] = []
    for body in data:
        entity_id, has_id = mapping.entity_id(domain, body)
        raw_version = str(body.get(mapping.VERSION_FIELD) or "")
        if problem := entity_id_problem(entity_id):
            poison.append(Poison(entity_id, "invalid_id", problem, raw_version, body))
            continue
        try:
            modified = mapping.parse_datetime(body.get(mapping.VERSION_FIELD), zone)
            version = format_timestamp(modified) if modified else fallback_version
        except (OverflowError, ValueError):
            poison.append(
                Poison(entity_id, "unparseable", f"{mapping.VERSION_FIELD} is out of range", raw_version, body)
            )
            continue
        without_id += not has_id
        current = latest.get(entity_id)
        if current is None or current.version < version:
            latest[entity_id] = Incoming(entity_id, version, body, raw_version)
    return latest, without_id, poison


def _checked_items(
    deps: IngestDeps,
    *,
    tenant_id: str,
    domain: str,
    pointer: DeliveryPointer,
    fresh: dict[str, Incoming],
    received_at: str,
    quarantine: "_Quarantine",
) -> dict[str, dict[str, Any]]:
    """The entity items to write, checked against DynamoDB's limits before anything is projected from
    them: an entity that cannot be stored must not count in its customer either."""
    items: dict[str, dict[str, Any]] = {}
    for eid, e in list(fresh.items()):
        item = deps.entities.item(
            tenant_id, domain, EntityWrite(eid, e.version, e.body, pointer.place_id, pointer.key), received_at
        )
        if problem := deps.entities.problem(item):
            del fresh[eid]
            quarantine.entity(eid, *problem)
        else:
            items[eid] = item
    return items


def _apply_bills(
    deps: IngestDeps,
    batch: _Batch,
    *,
    place_id: str,
    fresh: dict[str, Incoming],
    stored: Mapping[str, StoredVersion],
    quarantine: "_Quarantine",
) -> dict[str, str | None]:
    zone = batch.tenant.zone
    facts: dict[str, mapping.BillFacts] = {}
    for bill_id, e in list(fresh.items()):
        try:
            facts[bill_id] = mapping.bill_facts(bill_id, e.body, zone)
            problem = _bill_problem(facts[bill_id])
        except (ValueError, TypeError, ArithmeticError) as exc:
            problem = ("unparseable", f"the bill could not be read: {type(exc).__name__}")
        if problem:
            del fresh[bill_id]
            facts.pop(bill_id, None)
            quarantine.entity(bill_id, *problem)
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
            batch.touch(old, [bill_id])
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
            batch.touch(f.customer_id, [bill_id])
    return {bid: f.customer_id for bid, f in facts.items()}


def _bill_problem(facts: mapping.BillFacts) -> tuple[str, str] | None:
    """Why a readable bill still cannot be counted: a customer id no key can hold, an amount no DynamoDB
    number can, a time that has no UTC equivalent."""
    if facts.customer_id is not None and (problem := entity_id_problem(facts.customer_id)):
        return "invalid_id", f"customerId: {problem}"
    if facts.amount is not None and (problem := number_problem(facts.amount)):
        return "number_out_of_range", f"finalPrice: {problem}"
    if facts.paid_at is not None:
        format_timestamp(facts.paid_at)  # OverflowError for a time beyond year 1..9999 in UTC
    return None


def _apply_loyalty(deps: IngestDeps, batch: _Batch, fresh: Mapping[str, Incoming]) -> None:
    batch.load(deps.customers, fresh)
    for customer_id, e in fresh.items():
        # A deleted loyalty member keeps its purchase history but loses its personal data.
        contact = None if mapping.is_deleted(e.body) else mapping.contact_facts(customer_id, e.body)
        batch.states[customer_id].set_contact(contact, e.version)
        batch.touch(customer_id, [customer_id])


def _write_customers(
    deps: IngestDeps, batch: _Batch, names_override: Mapping[str, str]
) -> tuple[int, dict[str, Refused]]:
    """Writes the changed customers; returns how many views changed, and the customers refused for good."""
    if not batch.states:
        return 0, {}
    wanted = {c for state in batch.states.values() for c in state.category_ids()} - names_override.keys()
    names = {
        cid: name
        for cid, body in deps.entities.bodies(batch.tenant.tenant_id, "ItemCategories", wanted).items()
        if (name := mapping.category_name(body))
    } | dict(names_override)
    now = deps.clock()
    # A customer that exists nowhere yet and gained nothing stays uncreated (e.g. a bill moved off it).
    candidates = [s for s in batch.states.values() if s.dirty or s.version > 0]
    changed = {s.customer_id for s in candidates if s.reproject(names, now)}
    refused = deps.customers.put_many([state.to_item() for state in candidates if state.dirty])
    return len(changed - refused.keys()), refused


@dataclass
class _Quarantine:
    """The records of one delivery that could not be stored, written to QuarantineTable in one batch."""

    pointer: DeliveryPointer
    now: str
    records: dict[str, QuarantineRecord] = field(default_factory=dict)

    versions: dict[str, str] = field(default_factory=dict)  # entity id -> its raw `_lastModifiedAt`

    def entity(self, entity_id: str, code: str, reason: str, raw_version: str | None = None) -> None:
        self._add(entity_id, code, reason, self.versions.get(entity_id, "") if raw_version is None else raw_version)

    def delivery(self, code: str, reason: str) -> None:
        self._add(DELIVERY, code, reason, self.pointer.sha256)

    def _add(self, entity_id: str, code: str, reason: str, raw_version: str | None) -> None:
        qid = quarantine_id(self.pointer.domain, entity_id, raw_version if raw_version is not None else "")
        self.records[qid] = QuarantineRecord(
            tenant_id=self.pointer.tenant_id,
            qid=qid,
            domain=self.pointer.domain,
            entity_id=display_id(entity_id),
            code=code,
            reason=reason,
            pointer=self.pointer,
            quarantined_at=self.now,
            attempts=self.pointer.retry.get(qid, 0) + 1,
        )

    def flush(self, store: QuarantineStore) -> int:
        """Writes the new records and settles the retried ones that stored this time; returns those."""
        if self.records:
            store.put_many(list(self.records.values()))
        settled = [qid for qid in self.pointer.retry if qid not in self.records]
        if settled:
            store.delete(self.pointer.tenant_id, settled)
        return len(settled)
