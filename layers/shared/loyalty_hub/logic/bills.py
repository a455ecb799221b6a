"""A delivery's bills onto their customers' ledgers: what a bill counts for is rules.projection's; here
each bill is read, checked, and put on (or taken off) the ledgers of the customers it names."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC

from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.entities import EntityStore, StoredVersion
from loyalty_hub.dal.ledger import LedgerStore, SlotKey
from loyalty_hub.limits import number_problem
from loyalty_hub.logic.incoming import Incoming
from loyalty_hub.logic.quarantine import DeliveryQuarantine
from loyalty_hub.models.ids import entity_id_problem
from loyalty_hub.models.tenant import Tenant
from loyalty_hub.rules.customer import CustomerState
from loyalty_hub.rules.ledger import Slot
from loyalty_hub.rules.projection import ledger_entry
from loyalty_hub.storyous import mapping


@dataclass
class CustomerBatch:
    """The customers touched by one delivery, loaded once and written once."""

    tenant: Tenant
    states: dict[str, CustomerState] = field(default_factory=dict)
    touched_by: dict[str, set[str]] = field(default_factory=dict)  # customer id -> the entities that changed it
    erased_now: set[str] = field(default_factory=set)  # members this delivery deleted: their copies go too

    def touch(self, customer_id: str, entity_ids: Iterable[str]) -> None:
        self.touched_by.setdefault(customer_id, set()).update(entity_ids)

    def load(self, store: CustomerStore, customer_ids: Iterable[str]) -> None:
        wanted = set(customer_ids) - self.states.keys()
        found = store.get_many(self.tenant.tenant_id, wanted)
        for cid in wanted:
            self.states[cid] = CustomerState.from_item(self.tenant.tenant_id, cid, found.get(cid))

    def load_slots(self, ledger: LedgerStore, wanted: set[SlotKey]) -> None:
        """The ledger slots asked for, then those of the bills their entries reverse (a second read only
        when an entry stored before reverses a bill not asked for)."""
        while wanted := {(c, b) for c, b in wanted if b not in self.states[c].slots}:
            stored = ledger.get(self.tenant.tenant_id, wanted)
            for cid, bid in wanted:
                self.states[cid].slots[bid] = Slot.from_stored(stored.get((cid, bid)))
            wanted = {(c, target) for c, b in wanted if (e := self.states[c].slots[b].entry) and (target := e.get("r"))}


def apply_bills(
    entities: EntityStore,
    customers: CustomerStore,
    ledger: LedgerStore,
    batch: CustomerBatch,
    *,
    place_id: str,
    fresh: dict[str, Incoming],
    stored: Mapping[str, StoredVersion],
    quarantine: DeliveryQuarantine,
) -> None:
    """Each readable bill onto its customer's ledger (and off a previous owner's); quarantines the rest."""
    zone = batch.tenant.zone
    facts: dict[str, mapping.BillFacts] = {}
    for bill_id, e in list(fresh.items()):
        try:
            facts[bill_id] = mapping.bill_facts(bill_id, e.body, zone)
            problem = bill_problem(facts[bill_id])
        except (ValueError, TypeError, ArithmeticError) as exc:
            problem = ("unparseable", f"the bill could not be read: {type(exc).__name__}")
        if problem:
            del fresh[bill_id]
            facts.pop(bill_id, None)
            quarantine.entity(bill_id, *problem)
    products = {p for f in facts.values() for p in f.uncategorized_products}
    product_category = {
        pid: cid
        for pid, body in entities.bodies(batch.tenant.tenant_id, "Items", products).items()
        if (cid := mapping.item_category_id(body))
    }
    previous = {bid: stored[bid].customer_id for bid in fresh if bid in stored}
    batch.load(
        customers,
        {f.customer_id for f in facts.values() if f.customer_id} | {c for c in previous.values() if c},
    )
    wanted = {(c, b) for b, c in previous.items() if c} | {
        (f.customer_id, b) for b, f in facts.items() if f.customer_id
    }
    batch.load_slots(
        ledger, wanted | {(f.customer_id, f.refund_of) for f in facts.values() if f.customer_id and f.refund_of}
    )
    for bill_id, f in facts.items():
        version = fresh[bill_id].version
        old = previous.get(bill_id)
        if old and old != f.customer_id:
            batch.states[old].remove_bill(bill_id, version)
            batch.touch(old, (bill_id,))
        if f.customer_id:
            entry = ledger_entry(f, version, place_id, _categories(f, product_category))
            batch.states[f.customer_id].upsert_bill(bill_id, entry)
            batch.touch(f.customer_id, (bill_id,))


def _categories(facts: mapping.BillFacts, product_category: Mapping[str, str]) -> tuple[str, ...]:
    """The bill's category ids (sorted), with those of its products' Items entities where an item has none."""
    if not facts.uncategorized_products:
        return facts.category_ids
    found = (product_category[p] for p in facts.uncategorized_products if p in product_category)
    return tuple(sorted({*facts.category_ids, *found}))


def bill_problem(facts: mapping.BillFacts) -> tuple[str, str] | None:
    """Why a readable bill still cannot be counted: a customer id no key can hold, an amount no DynamoDB
    number can, a time that has no UTC equivalent."""
    if facts.customer_id is not None and (problem := entity_id_problem(facts.customer_id)):
        return "invalid_id", f"customerId: {problem}"
    if facts.amount is not None and (problem := number_problem(facts.amount)):
        return "number_out_of_range", f"finalPrice: {problem}"
    if facts.paid_at is not None:
        facts.paid_at.astimezone(UTC)  # OverflowError for a time beyond year 1..9999 in UTC
    return None
