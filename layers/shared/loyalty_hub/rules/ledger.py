"""A customer's bills kept one per item, and the summary its customer item keeps of them (D50).

The refund rule (rules.projection) needs one fact beyond a bill's own entry: whether a corrective bill on
the same ledger points at it. Each slot keeps that as `reversed_by`, so whether a bill counts is read from
its slot alone, and a change is applied as a delta: the slots it touches leave the summary under their old
state and come back under their new one. The summary is therefore exact only if every write of a slot is
followed by the write of its summary; logic.customer_writes keeps that promise across crashes.
"""

import bisect
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

import orjson

from loyalty_hub.rules.projection import LedgerEntry, left_out
from loyalty_hub.rules.timestamps import timestamp_of_isoformat

ENDS: Final = 4  # earliest and latest counted bills kept: a refund of the last one needs no ledger read
END_FACTS: Final = ("t", "a", "s", "c")  # what the aggregates read of the first and last bill
_ORDER: Final = operator.itemgetter(0)  # an end's (order key, entry) pairs, by key


_NO_BILLS: Final[frozenset[str]] = frozenset()


@dataclass(slots=True)
class Slot:
    """One bill id on one customer's ledger: the bill's latest entry (None: not this customer's bill, or
    not arrived yet), and the corrective bills on this ledger that point at it (a frozenset, replaced
    when it changes: a delivery copies every slot it changes, and nearly every one reverses nothing)."""

    entry: LedgerEntry | None = None
    reversed_by: frozenset[str] = _NO_BILLS

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any] | None) -> "Slot":
        """From what dal.ledger stores of it ({"e": entry or None, "rb": [bill ids]}); None: nothing stored."""
        if not stored:
            return cls()
        return cls(stored["e"], frozenset(stored["rb"]) if stored["rb"] else _NO_BILLS)

    def stored(self) -> dict[str, Any]:
        """What dal.ledger stores of it."""
        return {"e": self.entry, "rb": sorted(self.reversed_by)}

    def copy(self) -> "Slot":
        return Slot(self.entry, self.reversed_by)

    def counted(self) -> bool:
        return self.counted_entry() is not None

    def counted_entry(self) -> LedgerEntry | None:
        """The entry, when the bill counts (rules.projection.left_out); None otherwise."""
        entry = self.entry
        return entry if entry is not None and left_out(entry, reversed_=bool(self.reversed_by)) is None else None

    def empty(self) -> bool:
        return self.entry is None and not self.reversed_by


def slots_from_entries(entries: Mapping[str, LedgerEntry]) -> dict[str, Slot]:
    """The slots a ledger of entries makes, placeholders for reversed bills that have not arrived included."""
    slots = {bill_id: Slot(entry) for bill_id, entry in entries.items()}
    for bill_id, entry in entries.items():
        if target := entry.get("r"):
            slot = slots.setdefault(target, Slot())
            slot.reversed_by = slot.reversed_by | {bill_id}
    return slots


def order_key(bill_id: str, entry: LedgerEntry) -> str | None:
    """Orders counted bills as rules.projection does: by the instant paid (UTC, fixed width), then id."""
    paid = entry.get("t")  # isoformat of the paid time (rules.projection.ledger_entry)
    return None if paid is None else f"{timestamp_of_isoformat(paid)}#{bill_id}"


@dataclass
class Summary:
    """What the customer's aggregates need of its counted bills, kept by deltas. `early` and `late` hold
    the earliest and latest dated counted bills (order key, entry), each a true prefix or suffix of that
    order; when one runs out while dated bills remain, the summary is rebuilt from the whole ledger."""

    count: int = 0
    total: Decimal = Decimal(0)
    categories: dict[str, int] = field(default_factory=dict)  # category id -> counted bills carrying it
    dated: int = 0
    early: list[tuple[str, LedgerEntry]] = field(default_factory=list)
    late: list[tuple[str, LedgerEntry]] = field(default_factory=list)

    @classmethod
    def of(cls, slots: Mapping[str, Slot]) -> "Summary":
        summary = cls()
        counted = {bill_id: entry for bill_id, slot in slots.items() if (entry := slot.counted_entry()) is not None}
        keys = {bill_id: summary._count(bill_id, entry, +1) for bill_id, entry in counted.items()}
        keyed = sorted((key, bill_id) for bill_id, key in keys.items() if key is not None)
        summary.early = [(key, _end(counted[bill_id])) for key, bill_id in keyed[:ENDS]]
        summary.late = [(key, _end(counted[bill_id])) for key, bill_id in keyed[-ENDS:]]
        return summary

    def add(self, bill_id: str, counted: LedgerEntry) -> None:
        """A bill that counts (its slot's counted_entry) into the summary."""
        if (key := self._count(bill_id, counted, +1)) is None:
            return
        early, late = self.early, self.late
        # An end takes the bill if it held every dated bill before it, or the bill falls inside it.
        to_early = len(early) == self.dated - 1 or (early and key < early[-1][0])
        to_late = len(late) == self.dated - 1 or (late and key > late[0][0])
        if not (to_early or to_late):
            return  # a bill between the ends: nothing of it is kept
        pair = (key, _end(counted))
        if to_early:
            bisect.insort(early, pair, key=_ORDER)
            del early[ENDS:]
        if to_late:
            bisect.insort(late, pair, key=_ORDER)
            del late[:-ENDS]

    def remove(self, bill_id: str, counted: LedgerEntry) -> None:
        """A bill that counted, as it was added, out of the summary."""
        if (key := self._count(bill_id, counted, -1)) is None:
            return
        self.early = [pair for pair in self.early if pair[0] != key]
        self.late = [pair for pair in self.late if pair[0] != key]

    def _count(self, bill_id: str, entry: LedgerEntry, sign: int) -> str | None:
        """Adds (or takes out) a counted bill's totals; returns its order key when it is dated."""
        self.count += sign
        if (amount := entry.get("a")) is not None:
            self.total = self.total + Decimal(amount) if sign > 0 else self.total - Decimal(amount)
        for category in entry.get("k", ()):
            if (n := self.categories.get(category, 0) + sign) > 0:
                self.categories[category] = n
            else:
                self.categories.pop(category, None)
        key = order_key(bill_id, entry)
        if key is not None:
            self.dated += sign
        return key

    def needs_ledger(self) -> bool:
        """True when the first or last counted bill is no longer known: only the whole ledger can tell."""
        return self.dated > 0 and not (self.early and self.late)

    def aggregates(self, category_names: Mapping[str, str]) -> dict[str, Any]:
        """rules.projection.aggregates of the whole ledger, from the summary alone."""
        if self.needs_ledger():
            raise RuntimeError("the summary's ends are unknown: rebuild it from the ledger first")
        first = self.early[0][1] if self.early else None
        last = self.late[-1][1] if self.late else None
        return {
            "store_id": last["s"] if last else None,
            "total_orders": self.count,
            "total_sales": self.total,
            "date_first_order": first["t"] if first else None,
            "date_last_order": last["t"] if last else None,
            "last_order_value": Decimal(last["a"]) if last and "a" in last else None,
            "categories": sorted({category_names[c] for c in self.categories if c in category_names}),
            "currency": last.get("c") if last else None,
        }

    def to_json(self) -> str:
        doc = {"n": self.count, "sum": str(self.total), "k": self.categories, "d": self.dated}
        return orjson.dumps({**doc, "early": self.early, "late": self.late}, option=orjson.OPT_SORT_KEYS).decode()

    @classmethod
    def from_json(cls, text: str | None) -> "Summary":
        if not text:
            return cls()
        doc = orjson.loads(text)
        return cls(
            count=doc["n"],
            total=Decimal(doc["sum"]),
            categories=doc["k"],
            dated=doc["d"],
            early=[(key, entry) for key, entry in doc["early"]],
            late=[(key, entry) for key, entry in doc["late"]],
        )


def _end(entry: LedgerEntry) -> LedgerEntry:
    return {name: entry[name] for name in END_FACTS if name in entry}


def counted_entries(slots: Mapping[str, Slot], bill_ids: Iterable[str] | None = None) -> dict[str, LedgerEntry]:
    """Bill id -> entry of the bills (all, or those named) that count."""
    wanted = slots.keys() if bill_ids is None else set(bill_ids) & slots.keys()
    return {b: entry for b in wanted if (entry := slots[b].counted_entry()) is not None}


def item_slots(item: Mapping[str, Any], stored: Mapping[str, Mapping[str, Any]]) -> dict[str, Slot]:
    """A customer's slots: those read from its ledger items, or, for an item written before D50 that ingest
    has not touched since, those of the whole ledger it still holds (it has no ledger items yet, so what
    was read for it is nothing)."""
    if legacy := item.get("ledger"):
        return slots_from_entries(orjson.loads(legacy))
    return {bill_id: Slot.from_stored(s) for bill_id, s in stored.items()}
