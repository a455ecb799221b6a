"""The customer ledger kept one item per bill (D50): a delivery that dies between a customer's ledger and
its summary is repaired by the next Bills delivery, a customer refused for good keeps its ledger as it was,
and a customer item written before D50 moves its ledger out on first touch."""

from dataclasses import replace
from typing import Any

import boto3
import orjson
import pytest

from functions.ingest import app as ingest_app
from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.ledger import LedgerStore
from loyalty_hub.errors import Refused
from loyalty_hub.limits import MAX_ITEM_BYTES, item_size
from loyalty_hub.logic import capture, ingest
from loyalty_hub.models import structs
from loyalty_hub.rules.ledger import Summary, item_slots
from tests.support.deliveries import archive, bill, customer_item
from tests.support.events import sqs_event
from tests.support.stack import MERCHANT, PLACE, REGION, Stack

pytestmark = pytest.mark.usefixtures("tenant")

MODIFIED = "2024-07-01T10:00:01Z"


def bills(*specs: tuple[str, str, str]) -> list[dict[str, Any]]:
    """(bill id, price, paid at) of customer C1."""
    return [bill(b, "C1", price, paid, MODIFIED) for b, price, paid in specs]


def ledger(stack: Stack) -> LedgerStore:
    return LedgerStore(boto3.client("dynamodb", region_name=REGION), stack.entities_table)


def dying_customers(stack: Stack) -> CustomerStore:
    client = boto3.client("dynamodb", region_name=REGION)

    def crash(**_: Any) -> None:
        raise RuntimeError("execution environment died")

    client.meta.events.register("before-parameter-build.dynamodb.BatchWriteItem", crash)
    return CustomerStore(client, stack.customers_table)


def test_a_delivery_that_died_after_the_ledger_is_repaired_by_the_next(
    stack: Stack, lambda_context: Any, logs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    deps = ingest.default_deps()
    first = archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", bills(("B1", "10", "2024-07-01T10:00:00Z")))
    ingest.ingest_delivery(deps, first)
    before = customer_item(stack.customers_table, MERCHANT, "C1")
    died = archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", bills(("B2", "20", "2024-07-02T10:00:00Z")))
    with pytest.raises(RuntimeError):
        ingest.ingest_delivery(replace(deps, customers=dying_customers(stack)), died)
    assert list(ledger(stack).opened(MERCHANT).values()) == [{"C1": ["B2"]}]  # its slot landed, its summary not
    assert customer_item(stack.customers_table, MERCHANT, "C1") == before

    # The dead message went to the DLQ; the tenant's next Bills delivery comes first.
    written: list[list[str]] = []  # each customer write's bills, as its stream record carries them
    put_many = CustomerStore.put_many
    monkeypatch.setattr(
        CustomerStore, "put_many", lambda self, rs: written.extend(r["bills_changed"] for r in rs) or put_many(self, rs)
    )
    later = archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", bills(("B3", "30", "2024-07-03T10:00:00Z")))
    assert ingest_app.lambda_handler(sqs_event([structs.to_json(later)]), lambda_context) == {"batchItemFailures": []}
    item = customer_item(stack.customers_table, MERCHANT, "C1")
    assert (item["total_orders"], item["total_sales"]) == (3, 60)  # B2 counts: its ledger item is the truth
    assert ledger(stack).opened(MERCHANT) == {}
    assert "customer summaries rebuilt from their ledgers" in logs.text()
    assert written == [["B2"], ["B3"]]  # the repair's own write names B2: vendors hear of it too
    change = capture.vendor_message(item, before)
    assert change is not None and change.messages[0].bill_ids == ["B3"]
    # The dead delivery, redriven, changes nothing more.
    assert ingest.ingest_delivery(deps, died).customers_changed == 0
    assert customer_item(stack.customers_table, MERCHANT, "C1")["total_orders"] == 3


def test_a_customer_refused_for_good_keeps_its_ledger_as_it_was(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    deps = ingest.default_deps()
    ingest.ingest_delivery(deps, archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", bills(("B1", "10", MODIFIED))))
    kept = ledger(stack).of_customer(MERCHANT, "C1")
    monkeypatch.setattr(
        CustomerStore, "put_many", lambda self, records: {r["customer_id"]: Refused("too_large", "x") for r in records}
    )
    refund = bill("R1", "C1", "-10", MODIFIED, MODIFIED, refundedBillIdentifier="B1")
    report = ingest.ingest_delivery(deps, archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", [refund]))
    assert report.quarantined == 1 and report.written == 0
    assert ledger(stack).of_customer(MERCHANT, "C1") == kept  # R1 gone again, B1 not marked reversed
    assert ledger(stack).opened(MERCHANT) == {}


def test_a_customer_item_holding_its_whole_ledger_moves_it_out_on_first_touch(stack: Stack) -> None:
    entries = {
        "B1": {"v": "1", "s": PLACE, "k": [], "t": "2024-07-01T10:00:00+02:00", "a": "10", "c": "CZK"},
        "R1": {"v": "1", "s": PLACE, "k": [], "t": "2024-07-01T11:00:00+02:00", "a": "-10", "r": "B1"},
        "B2": {"v": "1", "s": PLACE, "k": [], "t": "2024-07-02T10:00:00+02:00", "a": "25", "c": "CZK"},
    }
    old = {"tenant_id": MERCHANT, "customer_id": "C1", "version": 4, "updated_at": "2024-07-02T09:00:00.000000Z",
           "created_at": "2024-07-01T09:00:00.000000Z", "ledger": orjson.dumps(entries).decode(), "total_orders": 1,
           "total_sales": 25, "date_first_order": "2024-07-02T10:00:00+02:00", "categories": [], "allow_sms": False,
           "date_last_order": "2024-07-02T10:00:00+02:00", "last_order_value": 25, "store_id": PLACE,
           "currency": "CZK", "allow_email": False}  # fmt: skip
    store = CustomerStore(boto3.client("dynamodb", region_name=REGION), stack.customers_table)
    store.put_many([old])
    assert item_slots(old, {})["B1"].counted() is False  # vendors read the old item's own ledger meanwhile
    loyalty = {"customerId": "C1", "firstName": "Jana", "_lastModifiedAt": MODIFIED}
    ingest.ingest_delivery(ingest.default_deps(), archive(stack.raw_bucket, MERCHANT, PLACE, "Loyalty", [loyalty]))
    item = customer_item(stack.customers_table, MERCHANT, "C1")
    assert "ledger" not in item and item["total_orders"] == 1 and item["total_sales"] == 25
    moved = ledger(stack).of_customer(MERCHANT, "C1")
    assert {b: s["e"] for b, s in moved.items()} == entries and moved["B1"]["rb"] == ["R1"]
    assert Summary.from_json(item["summary"]).count == 1


def test_an_open_record_of_long_ids_is_split_into_items_dynamodb_takes(stack: Stack) -> None:
    bills = {f"C{c}" + "c" * 1500: [f"B{b}" + "b" * 1000 for b in range(300)] for c in range(3)}  # ~3.4 MB of ids
    sort_keys = ledger(stack).open(MERCHANT, "attempt", bills)
    raw = boto3.client("dynamodb", region_name=REGION).query(
        TableName=stack.entities_table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"{MERCHANT}#~open"}},
    )["Items"]
    assert len(raw) == len(sort_keys) > 1
    assert max(item_size(item) for item in raw) <= MAX_ITEM_BYTES  # moto would take a larger one; AWS would not
    merged: dict[str, list[str]] = {}
    for chunk in ledger(stack).opened(MERCHANT).values():
        for customer_id, bill_ids in chunk.items():
            merged.setdefault(customer_id, []).extend(bill_ids)
    assert merged == {c: sorted(b) for c, b in bills.items()}
    ledger(stack).close(MERCHANT, sort_keys)
    assert ledger(stack).opened(MERCHANT) == {}
