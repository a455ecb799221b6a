"""Invariant: a summary kept by deltas (rules.ledger, D50), rebuilt from the whole ledger only when it says
it must, always gives rules.projection's aggregates of the whole ledger, whatever the bills do: new
versions, refunds pointing anywhere (at bills not arrived yet too), deletions, moves off the ledger."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from unittest.mock import patch

from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_hub.rules import ledger as ledger_rules
from loyalty_hub.rules import projection
from loyalty_hub.rules.customer import CustomerState
from loyalty_hub.rules.ledger import Slot, Summary, order_key
from loyalty_hub.rules.timestamps import format_timestamp

BILLS = [f"B{i:02d}" for i in range(10)]
AS_IDS = {c: c for c in ("c:1", "c:2", "c:3")}

TIMES = [
    "2024-06-01T12:00:00+02:00",
    "2024-06-01T10:00:00Z",  # the same instant as the one above: the bill id decides
    "2024-06-02T08:00:00-05:00",
    "2024-06-03T12:00:00Z",
    "2024-06-04T00:30:00+01:00",
]


@st.composite
def entries(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly bills that count (so the ends move), sometimes any of the refund rule's exceptions."""
    entry: dict[str, Any] = {
        "s": draw(st.sampled_from(["P1", "P2"])),
        "k": draw(st.lists(st.sampled_from(sorted(AS_IDS)), max_size=2, unique=True)),
    }
    rare = st.integers(0, 5).map(lambda n: n == 0)
    if draw(st.integers(0, 9)) > 0:
        entry["t"] = draw(st.sampled_from(TIMES))
    if draw(st.integers(0, 9)) > 0:
        entry["a"] = str(draw(st.decimals(min_value=-5, max_value=300, places=2, allow_nan=False)))
    if draw(st.booleans()):
        entry["c"] = draw(st.sampled_from(["CZK", "EUR"]))
    for flag in ("rf", "d"):
        if draw(rare):
            entry[flag] = True
    if draw(rare):
        entry["r"] = draw(st.sampled_from(BILLS))
    return entry


# (bill, entry): a newer version of the bill; (bill, None): the bill moved to another customer.
operations = st.lists(st.tuples(st.sampled_from(BILLS), st.none() | entries()), min_size=1, max_size=25)


@settings(max_examples=1500, deadline=None)
@given(operations=operations, ends=st.sampled_from([1, 2, ledger_rules.ENDS]))
def test_the_summary_gives_the_aggregates_of_the_whole_ledger(
    operations: list[tuple[str, dict[str, Any] | None]], ends: int
) -> None:
    with patch.object(ledger_rules, "ENDS", ends):
        state = CustomerState("t", "c", slots={b: Slot() for b in BILLS})  # every slot read, as ingest reads them
        rebuilds = 0
        for version, (bill_id, entry) in enumerate(operations, start=1):
            if entry is None:
                state.remove_bill(bill_id, f"{version:04d}")
            else:
                state.upsert_bill(bill_id, {**entry, "v": f"{version:04d}"})
            if state.summary.needs_ledger():  # as logic.customer_writes does, from the stored ledger
                state.rebuild({b: s.copy() for b, s in state.slots.items()})
                rebuilds += 1
            ledger = {b: s.entry for b, s in state.slots.items() if s.entry is not None}
            assert state.summary.aggregates(AS_IDS) == projection.aggregates(ledger, AS_IDS)
            assert Summary.from_json(state.summary.to_json()) == state.summary  # what the item stores reads back
        assert rebuilds <= len(operations)


def test_a_refund_of_the_last_bill_needs_no_ledger_read_while_an_end_remains() -> None:
    state = CustomerState("t", "c", slots={b: Slot() for b in ("B1", "B2", "R2")})
    state.upsert_bill("B1", {"v": "1", "s": "P", "k": [], "t": "2024-06-01T12:00:00Z", "a": "10"})
    state.upsert_bill("B2", {"v": "1", "s": "P", "k": [], "t": "2024-06-02T12:00:00Z", "a": "20"})
    state.bills_changed.clear()  # as if stored: the next write names only what it changes
    state.upsert_bill("R2", {"v": "1", "s": "P", "k": [], "t": "2024-06-02T13:00:00Z", "a": "-20", "r": "B2"})
    assert not state.summary.needs_ledger()
    assert state.summary.aggregates({})["last_order_value"] == Decimal(10)
    assert state.bills_changed == {"B2", "R2"}  # B2 stopped counting: vendors hear of it too


def test_an_earlier_bill_arriving_after_later_ones_becomes_the_first() -> None:
    with patch.object(ledger_rules, "ENDS", 1):  # the ends full, and not holding every bill
        state = CustomerState("t", "c", slots={b: Slot() for b in ("A", "B", "C")})
        for bill_id, paid in (
            ("A", "2024-06-03T10:00:00Z"),
            ("B", "2024-06-04T10:00:00Z"),
            ("C", "2024-06-01T10:00:00Z"),
        ):
            state.upsert_bill(bill_id, {"v": "1", "s": "P", "k": [], "t": paid})
        view = state.summary.aggregates({})
    assert (view["date_first_order"], view["date_last_order"]) == ("2024-06-01T10:00:00Z", "2024-06-04T10:00:00Z")


@settings(max_examples=500, deadline=None)
@given(operations=operations)
def test_a_first_bill_on_an_empty_slot_leaves_the_state_replacing_it_would(
    operations: list[tuple[str, dict[str, Any] | None]],
) -> None:
    fast = CustomerState("t", "c", slots={b: Slot() for b in BILLS})
    full = CustomerState("t", "c", slots={b: Slot() for b in BILLS})
    for version, (bill_id, entry) in enumerate(operations, start=1):
        if entry is None:
            fast.remove_bill(bill_id, f"{version:04d}")
            full.remove_bill(bill_id, f"{version:04d}")
            continue
        versioned = {**entry, "v": f"{version:04d}"}
        fast.upsert_bill(bill_id, versioned)
        current = full.slots[bill_id].entry
        if current is None or current["v"] < versioned["v"]:
            full._replace(bill_id, versioned)  # every change through the general path
        for a, b in ((fast.slots, full.slots), (fast.read, full.read)):
            assert a == b
        assert (fast.summary, fast.bills_changed, fast.dirty) == (full.summary, full.bills_changed, full.dirty)


# UTC and a zero offset take order_key's shortcut; an offset with seconds ends in "+00:00" only by its seconds.
PAID_ZONES = st.sampled_from(
    [UTC, timezone(timedelta(0)), timezone(timedelta(hours=2)), timezone(timedelta(hours=-3, minutes=-30)),
     timezone(timedelta(seconds=30)), timezone(timedelta(minutes=-1))]
)  # fmt: skip


@given(
    paid=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=PAID_ZONES),  # noqa: DTZ001
    bill_id=st.text(min_size=1, max_size=5),
)
def test_an_order_key_is_the_instant_paid_in_utc_whatever_the_offset_written(paid: datetime, bill_id: str) -> None:
    # A ledger entry's time is its bill's paid time as isoformat writes it (rules.projection.ledger_entry).
    assert order_key(bill_id, {"t": paid.isoformat()}) == f"{format_timestamp(paid)}#{bill_id}"
    assert order_key(bill_id, {}) is None
