"""The customers a delivery changed, written: ledger slots first, then the customer items (D50).

A customer's summary is kept by deltas, so it is right only if every slot write is followed by its
customer's write. Before any slot is written, an open record names the slots this attempt changes; it is
closed once their customers are written (or their slots written back, for a customer refused for good).
A record still open at the start of a Bills delivery means an attempt died in between: `repair` rebuilds
those customers' summaries from their whole ledgers, and tells vendors about the bills it named.
"""

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.entities import EntityStore
from loyalty_hub.dal.ledger import LedgerStore, SlotKey, Stored
from loyalty_hub.errors import Refused
from loyalty_hub.logic.bills import CustomerBatch
from loyalty_hub.models.tenant import Tenant
from loyalty_hub.rules.customer import CustomerState
from loyalty_hub.rules.ledger import Slot
from loyalty_hub.storyous import mapping


@dataclass(frozen=True)
class CustomerStores:
    entities: EntityStore  # category names
    customers: CustomerStore
    ledger: LedgerStore


def write_customers(
    stores: CustomerStores, batch: CustomerBatch, names_override: Mapping[str, str], now: datetime
) -> tuple[int, dict[str, Refused]]:
    """Writes the changed customers; returns how many views changed, and the customers refused for good."""
    if not batch.states:
        return 0, {}
    tenant_id = batch.tenant.tenant_id
    changes = _changes(batch.states.values())
    opened = stores.ledger.open(tenant_id, uuid.uuid4().hex, _by_customer(changes)) if changes else []
    refused = _refused_customers(stores.ledger.write(tenant_id, changes))
    for state in batch.states.values():
        if state.summary.needs_ledger() and state.customer_id not in refused:
            # Its first or last counted bill stopped counting: only the whole ledger can say which is now.
            refused |= _refused_customers(stores.ledger.write(tenant_id, _rebuild(stores.ledger, tenant_id, state)))
    names = _category_names(stores.entities, batch, names_override)
    # A customer that exists nowhere yet and gained nothing stays uncreated (e.g. a bill moved off it).
    candidates = [s for s in batch.states.values() if (s.dirty or s.version > 0) and s.customer_id not in refused]
    changed = {s.customer_id for s in candidates if s.reproject(names, now)}
    refused |= stores.customers.put_many([state.to_item() for state in candidates if state.dirty])
    if back := {(cid, b): was.stored() for cid in refused for b, was in batch.states[cid].read.items()}:
        stores.ledger.write(tenant_id, back)  # a refused customer keeps its ledger as it was read
    stores.ledger.close(tenant_id, opened)
    return len(changed - refused.keys()), refused


def repair(stores: CustomerStores, tenant: Tenant, now: datetime) -> int:
    """Rebuilds the summaries an attempt that died between its two writes left behind (module docstring);
    returns the customers rebuilt. One Query for a tenant with nothing open."""
    records = stores.ledger.opened(tenant.tenant_id)
    if not records:
        return 0
    named: dict[str, set[str]] = {}
    for bills in records.values():
        for customer_id, bill_ids in bills.items():
            named.setdefault(customer_id, set()).update(bill_ids)
    batch = CustomerBatch(tenant)
    batch.load(stores.customers, named)
    for customer_id, state in batch.states.items():
        if not state.moved_in:  # one still holding its whole ledger is rebuilt from it on load
            _rebuild(stores.ledger, tenant.tenant_id, state)  # write_customers writes the slots it fixes
        state.bills_changed |= named[customer_id]  # their first notice may never have left: vendors re-read
    write_customers(stores, batch, {}, now)
    stores.ledger.close(tenant.tenant_id, records)
    return len(batch.states)


def _rebuild(ledger: LedgerStore, tenant_id: str, state: CustomerState) -> dict[SlotKey, Stored]:
    """The customer's summary from its whole stored ledger; returns the slots whose stored form is wrong."""
    stored = ledger.of_customer(tenant_id, state.customer_id)
    state.rebuild({b: Slot.from_stored(s) for b, s in stored.items()})
    return {
        (state.customer_id, b): slot.stored()
        for b, slot in state.changed_slots().items()
        if slot != Slot.from_stored(stored.get(b))
    }


def _changes(states: Iterable[CustomerState]) -> dict[SlotKey, Stored]:
    return {
        (state.customer_id, bill_id): slot.stored()
        for state in states
        for bill_id, slot in state.changed_slots().items()
    }


def _by_customer(changes: Mapping[SlotKey, Stored]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for customer_id, bill_id in changes:
        grouped.setdefault(customer_id, []).append(bill_id)
    return grouped


def _refused_customers(refused: Mapping[SlotKey, Refused]) -> dict[str, Refused]:
    return {customer_id: error for (customer_id, _), error in refused.items()}


def _category_names(entities: EntityStore, batch: CustomerBatch, names_override: Mapping[str, str]) -> dict[str, str]:
    wanted = {c for state in batch.states.values() for c in state.category_ids()} - names_override.keys()
    return {
        cid: name
        for cid, body in entities.bodies(batch.tenant.tenant_id, "ItemCategories", wanted).items()
        if (name := mapping.category_name(body))
    } | dict(names_override)
