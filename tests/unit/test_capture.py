"""Change capture: customer writes (by ingest, into moto) -> the table's stream -> one message per vendor."""

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from functions.capture import app as capture_app
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.logic import capture, ingest
from loyalty_hub.models.tenant import Place, Tenant
from loyalty_hub.models.vendor_message import MAX_BILLS_PER_MESSAGE
from loyalty_hub.models.vendors import CustobarSettings, Vendors
from loyalty_hub.partial import AllRecordsFailed
from tests.support.deliveries import archive, bill
from tests.support.events import load
from tests.support.stack import MERCHANT, PLACE, REGION, Stack, add_tenant
from tests.support.streams import stream_event

CUSTOBAR = CustobarSettings(base_url="https://acme.custobar.com", field_prefix="acme")


def enable_custobar(stack: Stack, tenant_id: str = MERCHANT) -> None:
    store = TenantStore(stack.tenants_table, client=boto3.client("dynamodb", region_name=REGION))
    tenant = Tenant(tenant_id=tenant_id, name="Café", places={PLACE: Place()}, vendors=Vendors(custobar=CUSTOBAR))
    store.put(tenant)


def deliver(stack: Stack, data: list[dict[str, Any]], tenant: str = MERCHANT) -> dict[str, Any]:
    """Ingests the bills; returns the stream event the customer writes caused."""
    pointer = archive(stack.raw_bucket, tenant, PLACE, "Bills", data)
    return stream_event(stack.customers_table, lambda: ingest.ingest_delivery(ingest.default_deps(), pointer))


def queued(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    bodies = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [json.loads(m["Body"]) for m in messages]
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return bodies


@pytest.fixture
def custobar_tenant(stack: Stack) -> None:
    add_tenant(stack)
    enable_custobar(stack)


def test_view_changes_reach_the_vendor_queue_with_their_bills(
    stack: Stack, custobar_tenant: None, lambda_context: Any
) -> None:
    event = deliver(
        stack,
        [
            bill("B1", "C1", "10", "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01Z"),
            bill("B2", "C1", "20", "2024-07-02T10:00:00+02:00", "2024-07-02T10:00:01Z"),
            bill("B3", "C2", "5", "2024-07-02T10:00:00+02:00", "2024-07-02T10:00:01Z"),
        ],
    )
    assert capture_app.lambda_handler(event, lambda_context) == {"batchItemFailures": []}
    messages = sorted(queued(stack.custobar_queue_url), key=lambda m: m["customer_id"])
    assert messages == [
        {"tenant_id": MERCHANT, "customer_id": "C1", "bill_ids": ["B1", "B2"]},
        {"tenant_id": MERCHANT, "customer_id": "C2", "bill_ids": ["B3"]},
    ]


def test_records_that_change_nothing_vendors_see_are_ignored() -> None:
    item = {"tenant_id": "t", "customer_id": "c", "bills_changed": ["B1"], "total_orders": 1, "version": 3}
    assert capture.vendor_message({**item, "version": 4, "updated_at": "later", "bills_changed": None}, item) is None
    assert capture.vendor_message(None, item) is None  # removal
    assert capture.vendor_message({"pk": "tenant-stats"}, None) is None  # not a customer
    moved = capture.vendor_message({**item, "version": 4, "bills_changed": ["B1"]}, item)
    assert moved is not None and [m.bill_ids for m in moved.messages] == [["B1"]]  # each write names its own
    renamed = capture.vendor_message({**item, "first_name": "Jana", "bills_changed": None}, item)
    assert renamed is not None and [m.bill_ids for m in renamed.messages] == [[]] and renamed.fields == {"first_name"}


def test_a_change_of_more_bills_than_a_message_carries_is_split() -> None:
    bills = [f"B{i:05d}" for i in range(MAX_BILLS_PER_MESSAGE * 2 + 1)]
    change = capture.vendor_message({"tenant_id": "t", "customer_id": "c", "bills_changed": bills}, None)
    assert change is not None
    assert [len(m.bill_ids) for m in change.messages] == [MAX_BILLS_PER_MESSAGE, MAX_BILLS_PER_MESSAGE, 1]
    assert [b for m in change.messages for b in m.bill_ids] == bills


def test_tenants_without_vendors_queue_nothing(stack: Stack, lambda_context: Any) -> None:
    add_tenant(stack)
    event = deliver(stack, [bill("B1", "C1", "10", "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01Z")])
    assert capture_app.lambda_handler(event, lambda_context) == {"batchItemFailures": []}
    assert queued(stack.custobar_queue_url) == []


def test_a_crash_between_the_customer_write_and_the_vendor_send_loses_nothing(
    stack: Stack, custobar_tenant: None, lambda_context: Any
) -> None:
    # GIVEN two customers written by ingest, and the capture function dying as it sends the first one
    event = deliver(
        stack,
        [
            bill("B1", "C1", "10", "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01Z"),
            bill("B2", "C2", "10", "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01Z"),
        ],
    )
    deps = capture.default_deps()
    calls = {"n": 0}

    def crash_once(**_: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "died"}}, "SendMessage")

    deps.sqs.meta.events.register("before-call.sqs.SendMessage", crash_once)
    result = capture_app.lambda_handler(event, lambda_context)
    # THEN that record is reported failed, so the stream hands it over again; the other one went through
    first = event["Records"][0]["dynamodb"]["SequenceNumber"]
    assert result == {"batchItemFailures": [{"itemIdentifier": first}]}
    assert [m["customer_id"] for m in queued(stack.custobar_queue_url)] == ["C2"]
    # WHEN the stream retries from the failed record (Lambda resends it and those after it)
    assert capture_app.lambda_handler(event, lambda_context) == {"batchItemFailures": []}
    # THEN the first change reaches the vendor queue too; the repeat of the second is harmless
    assert sorted(m["customer_id"] for m in queued(stack.custobar_queue_url)) == ["C1", "C2"]


def test_a_batch_that_fails_whole_is_retried_whole(stack: Stack, custobar_tenant: None, lambda_context: Any) -> None:
    event = deliver(stack, [bill("B1", "C1", "10", "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01Z")])
    deps = capture.default_deps()

    def crash(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "InternalError", "Message": "died"}}, "SendMessage")

    deps.sqs.meta.events.register("before-call.sqs.SendMessage", crash)
    with pytest.raises(AllRecordsFailed):
        capture_app.lambda_handler(event, lambda_context)
    assert queued(stack.custobar_queue_url) == []


def test_the_sample_stream_event_is_fanned_out(stack: Stack, custobar_tenant: None, lambda_context: Any) -> None:
    event = load("capture/customer-change.json")
    assert capture_app.lambda_handler(event, lambda_context) == {"batchItemFailures": []}
    assert queued(stack.custobar_queue_url) == [
        {"tenant_id": MERCHANT, "customer_id": "M4E6D346F7257504B", "bill_ids": ["TM2024023171"]}
    ]
