"""A bill read for the fields the hub reads (logic.incoming.read_entities) answers every reader of a bill
exactly as the whole bill does, for any bill, of any shape; and what ingest stores is the bill as delivered."""

import json
from datetime import timedelta, timezone
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_hub.logic.incoming import read_entities
from loyalty_hub.models import structs
from loyalty_hub.models.datasync import parse_envelope
from loyalty_hub.storyous import mapping

ZONE = timezone(timedelta(hours=2))
numbers = st.integers(-(10**20), 10**20) | st.floats(allow_nan=False, allow_infinity=False)
scalars = st.none() | st.booleans() | numbers | st.text(max_size=8)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
)
times = st.sampled_from(["2024-07-01T10:00:00+02:00", "2024-07-01T10:00:00.5Z", "2024-07-01 10:00", "x", "", None])
ids = values | st.text(max_size=4)
item_values = st.fixed_dictionaries({}, optional={"categoryId": ids, "productId": ids, "price": values})
bill_values = {
    "billId": values | st.text(min_size=1, max_size=8),
    "id": values,
    "_id": values,
    "_lastModifiedAt": times | values,
    "customerId": values | st.text(min_size=1, max_size=8),
    "finalPrice": values | st.sampled_from(["150.40", "-3", " 7 ", "1E+3"]),
    "paidAt": times,
    "createdAt": times,
    "currencyCode": values,
    "refunded": values,
    "refundedBillIdentifier": values,
    "deleted": values,
    "items": st.lists(item_values | values, max_size=4) | values,
    "payments": values,  # fields the hub never reads
    "createdBy": values,
}
bills = st.fixed_dictionaries({}, optional=bill_values)


def answers(bill: dict[str, Any]) -> tuple[Any, ...]:
    entity_id, has_id = mapping.entity_id("Bills", bill)
    try:
        facts: Any = mapping.bill_facts(entity_id, bill, ZONE)
    except (ValueError, TypeError, ArithmeticError) as exc:  # what ingest quarantines as unparseable
        facts = type(exc)
    return (
        entity_id,
        has_id,
        bill.get(mapping.VERSION_FIELD),
        mapping.id_fields("Bills", bill),
        mapping.bill_customer_id(bill),
        mapping.bill_has_items(bill),
        facts,
    )


@given(st.lists(bills, min_size=1, max_size=3))
@settings(max_examples=400)
def test_a_bill_read_for_its_fields_answers_as_the_whole_bill(delivery: list[dict[str, Any]]) -> None:
    body = json.dumps({"dataDomain": "Bills", "data": delivery}, indent=2).encode()
    raws = parse_envelope(body, compact=True).data
    whole = [msgspec.json.decode(raw) for raw in parse_envelope(body).data]  # how every entity was read before
    read = read_entities("Bills", raws)
    assert [answers(bill) for bill in read] == [answers(bill) for bill in whole]
    # What ingest stores of each: the entity as delivered, without the indentation
    assert [msgspec.json.decode(structs.raw_text(raw)) for raw in raws] == whole
    assert all("\n" not in structs.raw_text(raw) for raw in raws)
