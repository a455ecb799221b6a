"""Pure projection of a customer from its bill ledger and loyalty contact: no I/O, no clock.

The ledger holds one compact entry per distinct bill (the latest version seen), so re-delivery and
reordering cannot double-count. `aggregates` computes from the whole ledger: the reference that the
summary ingest keeps by deltas (rules.ledger) must equal, and what `admin trace` shows.

Refund rule (docs/architecture.md, "Refunds"): a bill counts unless it is deleted, flagged `refunded`, is itself a
corrective bill (has `refundedBillIdentifier`, or a negative total), or is the original that a
corrective bill in the same customer's ledger points at.
"""

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final

from loyalty_hub.models.customer import CONTACT_FIELDS
from loyalty_hub.models.enrichment import POINTS_PRECEDENCE
from loyalty_hub.storyous.loyalty import ContactFacts
from loyalty_hub.storyous.mapping import BillFacts

LedgerEntry = dict[str, Any]
Ledger = Mapping[str, LedgerEntry]


def ledger_entry(facts: BillFacts, version: str, place_id: str, category_ids: tuple[str, ...]) -> LedgerEntry:
    """The few facts of a bill the aggregates need, with short keys: a ledger lives inside one item."""
    entry: LedgerEntry = {"v": version, "s": place_id, "k": list(category_ids)}
    if facts.paid_at is not None:
        entry["t"] = facts.paid_at.isoformat()
    if facts.amount is not None:
        entry["a"] = str(facts.amount)  # kept as text: the ledger is stored as one JSON document
    if facts.currency:
        entry["c"] = facts.currency
    if facts.refunded:
        entry["rf"] = True
    if facts.refund_of:
        entry["r"] = facts.refund_of
    if facts.deleted:
        entry["d"] = True
    return entry


def not_counted(ledger: Ledger) -> dict[str, str]:
    """Bill id -> why the refund rule leaves the bill out (module docstring); the others count."""
    reversed_ids = {entry["r"] for entry in ledger.values() if entry.get("r")}
    return {
        bill_id: reason
        for bill_id, entry in ledger.items()
        if (reason := left_out(entry, reversed_=bill_id in reversed_ids)) is not None
    }


def left_out(entry: LedgerEntry, *, reversed_: bool) -> str | None:
    """Why the refund rule leaves a bill out, given its entry and whether a corrective bill points at it."""
    if entry.get("d"):
        return "deleted"
    if entry.get("rf"):
        return "refunded"
    if entry.get("r"):
        return f"corrective bill of {entry['r']}"
    if reversed_:
        return "reversed by a corrective bill"
    # str(Decimal) of a negative amount starts with "-": most entries need no parse here.
    if entry.get("a", "").startswith("-") and Decimal(entry["a"]) < 0:
        return "negative total"
    return None


def counted_bills(ledger: Ledger) -> dict[str, LedgerEntry]:
    left_out = not_counted(ledger)
    return {bill_id: entry for bill_id, entry in ledger.items() if bill_id not in left_out}


def aggregates(ledger: Ledger, category_names: Mapping[str, str]) -> dict[str, Any]:
    counted = counted_bills(ledger)
    dated = sorted(
        ((datetime.fromisoformat(entry["t"]), bill_id) for bill_id, entry in counted.items() if "t" in entry),
    )
    first = counted[dated[0][1]] if dated else None
    last = counted[dated[-1][1]] if dated else None
    amounts = [Decimal(entry["a"]) for entry in counted.values() if "a" in entry]
    names = {category_names[c] for e in counted.values() for c in e.get("k", ()) if c in category_names}
    return {
        "store_id": last["s"] if last else None,
        "total_orders": len(counted),
        "total_sales": sum(amounts, Decimal(0)),
        "date_first_order": first["t"] if first else None,
        "date_last_order": last["t"] if last else None,
        "last_order_value": Decimal(last["a"]) if last and "a" in last else None,
        "categories": sorted(names),
        "currency": last.get("c") if last else None,
    }


def contact_view(contact: ContactFacts | None) -> Mapping[str, Any]:
    """The contact fields of the view; for no contact, one shared mapping (read only: customer_view copies)."""
    if contact is None:
        return _NO_CONTACT
    return {name: getattr(contact, name) for name in CONTACT_FIELDS}


_NO_CONTACT: Final = MappingProxyType(dict.fromkeys(CONTACT_FIELDS) | {"allow_sms": False, "allow_email": False})


def points(contact: ContactFacts | None, enrichment: Mapping[str, Mapping[str, Any]]) -> Decimal | None:
    """The first source in POINTS_PRECEDENCE that knows the customer's points, then Storyous loyalty."""
    for vendor in POINTS_PRECEDENCE:
        value = enrichment.get(vendor, {}).get("points")
        if value is not None:
            return Decimal(str(value))
    return contact.points if contact else None


def customer_view(
    bills: Mapping[str, Any], contact: ContactFacts | None, enrichment: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """What DailyStory and vendors see: the contact, the bills' aggregates, the points."""
    return {**contact_view(contact), **bills, "points": points(contact, enrichment)}
