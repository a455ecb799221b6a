"""One customer's state while a delivery is applied to it: the slots of its ledger the delivery read, its
summary, contact and projected view."""

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from loyalty_hub.models.customer import VIEW_FIELDS
from loyalty_hub.rules import projection
from loyalty_hub.rules.ledger import Slot, Summary, slots_from_entries
from loyalty_hub.rules.timestamps import format_timestamp, parse_timestamp
from loyalty_hub.storyous.loyalty import ContactFacts


@dataclass
class CustomerState:
    tenant_id: str
    customer_id: str
    summary: Summary = field(default_factory=Summary)
    slots: dict[str, Slot] = field(default_factory=dict)  # the ledger's bills read so far (dal.ledger)
    read: dict[str, Slot] = field(default_factory=dict)  # each changed slot as it was read: what to write back
    bills_changed: set[str] = field(default_factory=set)  # bills whose entry or count changed in this write
    contact: ContactFacts | None = None
    contact_version: str | None = None
    enrichment: dict[str, dict[str, Any]] = field(default_factory=dict)  # vendor -> what it told us
    view: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    updated_at: str | None = None
    created_at: str | None = None
    erased: dict[str, str] | None = None  # when and why its personal data was erased (logic.erasure)
    moved_in: bool = False  # its item held the whole ledger (before D50): every slot is written from it
    dirty: bool = False

    @classmethod
    def from_item(cls, tenant_id: str, customer_id: str, item: Mapping[str, Any] | None) -> "CustomerState":
        if item is None:
            return cls(tenant_id, customer_id)
        contact = item.get("contact")
        state = cls(
            tenant_id=tenant_id,
            customer_id=customer_id,
            summary=Summary.from_json(item.get("summary")),
            contact=ContactFacts(**contact) if contact else None,
            contact_version=item.get("contact_version"),
            enrichment={vendor: dict(data) for vendor, data in (item.get("enrichment") or {}).items()},
            view={name: item.get(name) for name in VIEW_FIELDS},
            version=int(item.get("version", 0)),
            updated_at=item.get("updated_at"),
            created_at=item.get("created_at"),
            erased=dict(item["erased"]) if item.get("erased") else None,
        )
        if legacy := item.get("ledger"):  # written before D50: its ledger moves to its own items now
            state.rebuild(slots_from_entries(orjson.loads(legacy)), every_slot_changed=True)
            state.moved_in = True
        return state

    def upsert_bill(self, bill_id: str, entry: dict[str, Any]) -> None:
        """A bill's newer version onto its slot (read before, with the slot of the bill it reverses)."""
        slot = self.slots[bill_id]
        if slot.entry is None and not slot.reversed_by and not entry.get("r"):
            self._first(bill_id, slot, entry)
        elif slot.entry is None or slot.entry["v"] < entry["v"]:
            self._replace(bill_id, entry)

    def _first(self, bill_id: str, slot: Slot, entry: dict[str, Any]) -> None:
        """`_replace` for a bill arriving on an empty slot and reversing nothing, as nearly every bill does:
        nothing leaves the summary, only the bill comes in (test_ledger_summary holds it to `_replace`)."""
        self.read.setdefault(bill_id, slot.copy())
        slot.entry = entry
        if (counted := slot.counted_entry()) is not None:
            self.summary.add(bill_id, counted)
        self.bills_changed.add(bill_id)
        self.dirty = True

    def remove_bill(self, bill_id: str, version: str) -> None:
        """A newer version of the bill names another customer (or none)."""
        current = self.slots[bill_id].entry
        if current is not None and current["v"] <= version:
            self._replace(bill_id, None)

    def _replace(self, bill_id: str, entry: dict[str, Any] | None) -> None:
        """The bill's entry and the bills it reverses leave the summary as they were and come back as they are."""
        slots, read, summary = self.slots, self.read, self.summary
        slot = slots[bill_id]
        old_target = slot.entry.get("r") if slot.entry else None
        new_target = entry.get("r") if entry else None
        before = [(t, slots[t].counted_entry()) for t in _affected(bill_id, old_target, new_target)]
        for t, counted in before:
            if t not in read:
                read[t] = slots[t].copy()
            if counted is not None:
                summary.remove(t, counted)
        slot.entry = entry
        if old_target:
            slots[old_target].reversed_by -= {bill_id}
        if new_target:
            slots[new_target].reversed_by |= {bill_id}
        for t, was in before:
            if (now := slots[t].counted_entry()) is not None:
                summary.add(t, now)
            if t == bill_id or (now is None) != (was is None):
                self.bills_changed.add(t)
        self.dirty = True

    def rebuild(self, slots: dict[str, Slot], *, every_slot_changed: bool = False) -> None:
        """The summary from the whole ledger (`slots`, every bill of it), its reversals derived again from the
        entries; slots whose reversals were wrong are marked for writing (all of them, for a move)."""
        truth = slots_from_entries({b: s.entry for b, s in slots.items() if s.entry is not None})
        for bill_id in slots.keys() | truth.keys():
            was = Slot() if every_slot_changed else slots.get(bill_id, Slot())
            if was != truth.get(bill_id, Slot()):
                self.read.setdefault(bill_id, was.copy())
        # The bills changed before (read) stay known, as empty slots when the ledger no longer holds them.
        self.slots = {b: truth.get(b, Slot()) for b in slots.keys() | truth.keys() | self.read.keys()}
        self.summary = Summary.of(self.slots)
        # A customer never stored whose ledger is empty stays uncreated, as in reproject's callers.
        self.dirty = self.dirty or self.version > 0 or any(s.entry is not None for s in self.slots.values())

    def changed_slots(self) -> dict[str, Slot]:
        return {b: self.slots[b] for b, was in self.read.items() if self.slots[b] != was}

    def set_contact(self, contact: ContactFacts | None, version: str) -> None:
        """A newer Loyalty record; one that carries the person again ends an earlier erasure."""
        if self.contact_version is None or self.contact_version < version:
            self.contact, self.contact_version = contact, version
            if contact is not None:
                self.erased = None
            self.dirty = True

    def erase(self, reason: str, at: str) -> bool:
        """Drops the person: contact and every vendor's word. The bills stay (the merchant's sales, linked
        only by the customer id); the record stays hidden until Loyalty sends the person again (D47).
        False when it was erased already."""
        if self.erased is not None and self.contact is None and not self.enrichment:
            return False
        self.erased = {"reason": reason, "at": at}
        self.contact, self.enrichment = None, {}
        self.dirty = True
        return True

    def set_enrichment(self, vendor: str, data: Mapping[str, Any], observed: str) -> None:
        """A vendor's latest word on the customer; an older observation never replaces a newer one."""
        current = self.enrichment.get(vendor)
        if self.erased is not None:
            return  # an answer about an erased person (asked before the erasure) is not kept
        if current is None or current.get("observed", "") < observed:
            self.enrichment[vendor] = {**data, "observed": observed}
            self.dirty = True

    def category_ids(self) -> list[str]:
        return sorted(self.summary.categories)

    def reproject(self, category_names: Mapping[str, str], now: datetime) -> bool:
        """Recompute the view; `version` and `updated_at` move only when what others see changed."""
        view = projection.customer_view(self.summary.aggregates(category_names), self.contact, self.enrichment)
        if view == self.view and self.version > 0:
            return False
        self.view = view
        self.version += 1
        stamp = now.astimezone(UTC)
        if self.updated_at is not None:
            # Strictly increasing per customer, even if this host's clock is behind the last writer's.
            stamp = max(stamp, parse_timestamp(self.updated_at) + timedelta(microseconds=1))
        self.updated_at = format_timestamp(stamp)
        self.created_at = self.created_at or self.updated_at
        self.dirty = True
        return True

    def to_item(self) -> dict[str, Any]:
        if self.updated_at is None:
            raise RuntimeError("a customer is stored only after reproject() stamped it")
        return {  # the table's and the index's keys are added by dal.customers
            "tenant_id": self.tenant_id,
            "customer_id": self.customer_id,
            "version": self.version,
            "updated_at": self.updated_at,
            "created_at": self.created_at,
            # One JSON document, not a DynamoDB map: smaller, and nothing queries inside it.
            "summary": self.summary.to_json(),
            "bills_changed": sorted(self.bills_changed) or None,  # for change capture: this write's only
            "contact": asdict(self.contact) if self.contact else None,
            "contact_version": self.contact_version,
            "enrichment": self.enrichment or None,
            "erased": self.erased,
            "category_ids": self.category_ids(),
            **self.view,
        }


def _affected(bill_id: str, *targets: str | None) -> list[str]:
    """The bill and the bills its old and new entries reverse, once each: a list, not a set, for nearly
    every bill reverses nothing."""
    affected = [bill_id]
    for target in targets:
        if target and target not in affected:
            affected.append(target)
    return affected
