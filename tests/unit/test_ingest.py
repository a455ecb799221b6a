"""Ingest: deliveries applied to entities and customers, through the handler and the logic, AWS in moto."""

import dataclasses
import json
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from functions.ingest import app as ingest_app
from functions.webhook import app as webhook_app
from loyalty_hub.dal.quarantine import QuarantineStore
from loyalty_hub.errors import Unavailable
from loyalty_hub.logic import ingest
from loyalty_hub.logic.ingest import IngestDeps, ingest_delivery
from loyalty_hub.models import structs
from loyalty_hub.models.datasync import DeliveryPointer
from tests.support.deliveries import archive, bill, customer_item, entity_item
from tests.support.doubles import FixedClock
from tests.support.events import load, sqs_event, webhook_event
from tests.support.stack import MERCHANT, OTHER_PLACE, PLACE, REGION, Stack, add_tenant

pytestmark = pytest.mark.usefixtures("tenant")

ALICE, BOB = "M4E6D346F7257504B", "M5A1B2C3D4E5F6A7B"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def deps(stack: Stack, clock: FixedClock) -> IngestDeps:
    deps = ingest.default_deps()
    deps.clock = clock
    return deps


def deliver(
    stack: Stack,
    deps: IngestDeps,
    domain: str,
    data: list[dict[str, Any]],
    *,
    place: str = PLACE,
    tenant: str = MERCHANT,
) -> ingest.IngestReport:
    return ingest_delivery(deps, archive(stack.raw_bucket, tenant, place, domain, data))


def customer(stack: Stack, customer_id: str, tenant: str = MERCHANT) -> dict[str, Any]:
    item = customer_item(stack.customers_table, tenant, customer_id)
    assert item is not None, f"customer {customer_id} not stored"
    return item


def test_the_sample_sqs_event_projects_customers(stack: Stack, lambda_context: Any) -> None:
    # GIVEN the raw body of events/webhook/bills-post.json archived where events/ingest/sqs-delivery.json points
    event = load("ingest/sqs-delivery.json")
    pointer = structs.decode(DeliveryPointer, event["Records"][0]["body"])
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=pointer.bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=pointer.bucket, Key=pointer.key, Body=load("webhook/bills-post.json")["body"].encode())

    # WHEN ingest handles the SQS event
    result = ingest_app.lambda_handler(event, lambda_context)

    # THEN no record failed and both customers carry aggregates under the refund rule
    assert result == {"batchItemFailures": []}
    alice = customer(stack, ALICE)
    assert alice["total_orders"] == 2 and alice["total_sales"] == Decimal("239.40")
    assert alice["date_first_order"] == "2024-07-09T14:20:05+02:00"
    assert alice["date_last_order"] == "2024-07-10T09:02:15+02:00"
    assert alice["last_order_value"] == Decimal("89") and alice["store_id"] == PLACE
    assert alice["version"] == 1 and alice["currency"] == "CZK"
    bob = customer(stack, BOB)  # 172 refunded, 173 its corrective bill, 174 counts
    assert bob["total_orders"] == 1 and bob["total_sales"] == Decimal("312.5")
    assert bob["last_order_value"] == Decimal("312.5")
    assert entity_item(stack.entities_table, MERCHANT, "Bills", "TM2024023175") is not None  # no customer


def test_categories_get_names_when_item_categories_arrive_later(
    stack: Stack, deps: IngestDeps, clock: FixedClock
) -> None:
    deliver(
        stack,
        deps,
        "Bills",
        [
            bill(
                "B1",
                ALICE,
                "100",
                "2024-07-01T10:00:00+02:00",
                "2024-07-01T10:00:01+02:00",
                categories=("c:coffee", "c:cake"),
            )
        ],
    )
    first = customer(stack, ALICE)
    assert first["categories"] == [] and first["category_ids"] == ["c:cake", "c:coffee"]

    clock.now = clock.now.replace(hour=9)
    report = deliver(
        stack,
        deps,
        "ItemCategories",
        [
            {"categoryId": "c:coffee", "name": "Coffee", "_lastModifiedAt": "2024-06-01T00:00:00Z"},
            {"categoryId": "c:tea", "name": "Tea", "_lastModifiedAt": "2024-06-01T00:00:00Z"},
        ],
    )
    assert report.customers_changed == 1
    second = customer(stack, ALICE)
    assert second["categories"] == ["Coffee"] and second["version"] == 2
    assert second["updated_at"] > first["updated_at"]

    # a bill item without categoryId takes it from the Items domain
    deliver(stack, deps, "Items", [{"productId": "p:0", "categoryId": "c:tea", "name": "Green tea"}])
    deliver(
        stack,
        deps,
        "Bills",
        [bill("B2", ALICE, "50", "2024-07-02T10:00:00+02:00", "2024-07-02T10:00:01+02:00", categories=(None,))],
    )
    assert customer(stack, ALICE)["categories"] == ["Coffee", "Tea"]


def test_an_older_version_never_overwrites_a_newer_one(stack: Stack, deps: IngestDeps) -> None:
    newer = bill("B1", ALICE, "120", "2024-07-01T10:00:00+02:00", "2024-07-01T12:00:00+02:00")
    older = bill("B1", ALICE, "100", "2024-07-01T10:00:00+02:00", "2024-07-01T11:00:00+02:00")
    deliver(stack, deps, "Bills", [newer])
    report = deliver(stack, deps, "Bills", [older])
    assert report.stale == 1 and report.written == 0
    assert customer(stack, ALICE)["total_sales"] == Decimal("120")
    stored = entity_item(stack.entities_table, MERCHANT, "Bills", "B1")
    assert stored is not None and json.loads(stored["body"])["finalPrice"] == "120"


def test_a_duplicate_delivery_changes_nothing(stack: Stack, deps: IngestDeps, clock: FixedClock) -> None:
    data = [bill("B1", ALICE, "100", "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01+02:00")]
    deliver(stack, deps, "Bills", data)
    before = customer(stack, ALICE)
    clock.now = clock.now.replace(hour=11)
    report = deliver(stack, deps, "Bills", data, place=OTHER_PLACE)
    assert report.written == 0 and report.customers_changed == 0
    assert customer(stack, ALICE) == before


def test_same_bill_twice_in_one_delivery_keeps_the_latest(stack: Stack, deps: IngestDeps) -> None:
    deliver(
        stack,
        deps,
        "Bills",
        [
            bill("B1", ALICE, "300", "2024-07-01T10:00:00+02:00", "2024-07-01T12:00:00+02:00"),
            bill("B1", ALICE, "100", "2024-07-01T10:00:00+02:00", "2024-07-01T11:00:00+02:00"),
        ],
    )
    assert customer(stack, ALICE)["total_sales"] == Decimal("300")


def test_a_bill_refunded_later_leaves_the_aggregates(stack: Stack, deps: IngestDeps, clock: FixedClock) -> None:
    deliver(
        stack,
        deps,
        "Bills",
        [
            bill("B1", ALICE, "100", "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01+02:00"),
            bill("B2", ALICE, "40.5", "2024-07-03T10:00:00+02:00", "2024-07-03T10:00:01+02:00"),
        ],
    )
    assert customer(stack, ALICE)["last_order_value"] == Decimal("40.5")
    clock.now = clock.now.replace(hour=10)
    deliver(
        stack,
        deps,
        "Bills",
        [
            bill("B2", ALICE, "40.5", "2024-07-03T10:00:00+02:00", "2024-07-04T09:00:00+02:00", refunded=True),
            bill(
                "B3",
                ALICE,
                "-40.5",
                "2024-07-04T09:00:00+02:00",
                "2024-07-04T09:00:00+02:00",
                refundedBillIdentifier="B2",
            ),
        ],
    )
    after = customer(stack, ALICE)
    assert after["total_orders"] == 1 and after["total_sales"] == Decimal("100")
    assert after["date_last_order"] == "2024-07-01T10:00:00+02:00" and after["last_order_value"] == Decimal("100")


def test_a_corrective_bill_alone_removes_its_original(stack: Stack, deps: IngestDeps) -> None:
    deliver(
        stack,
        deps,
        "Bills",
        [
            bill("B1", ALICE, "100", "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01+02:00"),
            bill(
                "B2",
                ALICE,
                "-100",
                "2024-07-02T10:00:00+02:00",
                "2024-07-02T10:00:01+02:00",
                refundedBillIdentifier="B1",
            ),
        ],
    )
    assert customer(stack, ALICE)["total_orders"] == 0


def test_a_deleted_bill_does_not_count(stack: Stack, deps: IngestDeps) -> None:
    deliver(
        stack,
        deps,
        "Bills",
        [
            bill("B1", ALICE, "100", "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01+02:00", deleted=True),
        ],
    )
    assert customer(stack, ALICE)["total_orders"] == 0


def test_a_bill_moved_to_another_customer_leaves_the_first(stack: Stack, deps: IngestDeps) -> None:
    deliver(stack, deps, "Bills", [bill("B1", ALICE, "100", "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01Z")])
    deliver(stack, deps, "Bills", [bill("B1", BOB, "100", "2024-07-01T10:00:00+02:00", "2024-07-01T11:00:00Z")])
    assert customer(stack, ALICE)["total_orders"] == 0
    assert customer(stack, BOB)["total_orders"] == 1
    deliver(stack, deps, "Bills", [bill("B1", None, "100", "2024-07-01T10:00:00+02:00", "2024-07-01T12:00:00Z")])
    assert customer(stack, BOB)["total_orders"] == 0
    stored = entity_item(stack.entities_table, MERCHANT, "Bills", "B1")
    assert stored is not None and "customer_id" not in stored


@pytest.mark.parametrize(
    ("price", "expected"),
    [
        (115, Decimal("115")),
        ("150.4", Decimal("150.4")),
        ("10.00", Decimal("10.00")),
        (0.1, Decimal("0.1")),
        (" 7.5 ", Decimal("7.5")),
        ("n/a", None),
        (None, None),
    ],
)
def test_final_price_as_number_or_numeric_string(
    stack: Stack, deps: IngestDeps, price: Any, expected: Decimal | None
) -> None:
    deliver(stack, deps, "Bills", [bill("B1", ALICE, price, "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01Z")])
    item = customer(stack, ALICE)
    assert item["total_orders"] == 1
    assert item.get("last_order_value") == expected
    assert item["total_sales"] == (expected or Decimal(0))


def test_paid_at_without_offset_is_read_in_the_tenant_zone(stack: Stack, deps: IngestDeps) -> None:
    deliver(stack, deps, "Bills", [bill("B1", ALICE, "1", "2024-01-15T10:00:00", "2024-01-15T10:00:01")])
    assert customer(stack, ALICE)["date_last_order"] == "2024-01-15T10:00:00+01:00"


def test_loyalty_brings_contact_data_and_consents(stack: Stack, deps: IngestDeps, clock: FixedClock) -> None:
    deliver(stack, deps, "Bills", [bill("B1", ALICE, "100", "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01Z")])
    deliver(
        stack,
        deps,
        "Loyalty",
        [
            {
                "customerId": ALICE,
                "firstName": "Alena",
                "lastName": "Dvořáková",
                "email": "Alena@Example.CZ",
                "phone": "+420 601 123 456",
                "consents": {"email": "2024-05-01T10:00:00Z", "sms": False},
                "birthDate": "1990-04-02T00:00:00Z",
                "points": 322,
                "_lastModifiedAt": "2024-07-01T09:00:00Z",
            }
        ],
    )
    alice = customer(stack, ALICE)
    assert (alice["first_name"], alice["last_name"], alice["email"]) == ("Alena", "Dvořáková", "alena@example.cz")
    assert alice["allow_email"] is True and alice["allow_sms"] is False
    assert alice["birth_date"] == "1990-04-02" and alice["points"] == Decimal("322")
    assert alice["total_orders"] == 1  # purchases kept

    clock.now = clock.now.replace(hour=12)
    deliver(stack, deps, "Loyalty", [{"customerId": ALICE, "deleted": True, "_lastModifiedAt": "2024-07-02T09:00Z"}])
    erased = customer(stack, ALICE)
    assert erased.get("email") is None and erased.get("first_name") is None and "contact" not in erased
    assert erased["total_orders"] == 1


def test_a_loyalty_customer_without_bills_is_created(stack: Stack, deps: IngestDeps) -> None:
    deliver(stack, deps, "Loyalty", [{"id": "L1", "fullName": "Jan Novák Jr.", "marketingConsent": True}])
    item = customer(stack, "L1")
    assert (item["first_name"], item["last_name"]) == ("Jan", "Novák Jr.")
    assert item["allow_email"] is True and item["allow_sms"] is True and item["total_orders"] == 0


def test_unknown_domains_and_entities_without_ids_are_stored_generically(stack: Stack, deps: IngestDeps) -> None:
    report = deliver(stack, deps, "GiftCards", [{"id": "g1", "value": 5}, {"value": 7}])
    assert not report.known_domain and report.written == 2 and report.without_id == 1
    assert entity_item(stack.entities_table, MERCHANT, "GiftCards", "g1") is not None
    report = deliver(stack, deps, "GiftCards", [{"value": 7}])
    assert report.written == 0  # the same content hashes to the same id


def test_entities_shared_across_places_are_stored_once(stack: Stack, deps: IngestDeps) -> None:
    item = {"productId": "p:1", "name": "Espresso", "_lastModifiedAt": "2024-07-01T10:00:00Z"}
    deliver(stack, deps, "Items", [item], place=PLACE)
    report = deliver(stack, deps, "Items", [item], place=OTHER_PLACE)
    assert report.written == 0
    listing = boto3.client("dynamodb", region_name=REGION).query(
        TableName=stack.entities_table,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": f"{MERCHANT}#Items"}},
    )
    assert listing["Count"] == 1


def test_tenants_do_not_see_each_other(stack: Stack, deps: IngestDeps) -> None:
    add_tenant(stack, "othermerchant")
    deliver(
        stack,
        deps,
        "Bills",
        [bill("B1", ALICE, "5", "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01Z")],
        tenant="othermerchant",
    )
    assert customer_item(stack.customers_table, MERCHANT, ALICE) is None
    assert customer(stack, ALICE, tenant="othermerchant")["total_sales"] == Decimal("5")


def _unprocessed_first(table: str, times: int) -> Any:
    """A before-call hook answering BatchWriteItem/BatchGetItem with everything unprocessed, `times` times."""
    state = {"left": times}

    def hook(params: dict[str, Any], model: Any, **_: Any) -> Any:
        requests = json.loads(params["body"])["RequestItems"]  # before-call sees the serialized request
        if table not in requests or state["left"] == 0:
            return None
        state["left"] -= 1
        http = SimpleNamespace(status_code=200, headers={})
        if model.name == "BatchWriteItem":
            return (http, {"UnprocessedItems": requests})
        return (http, {"Responses": {table: []}, "UnprocessedKeys": requests})

    return hook


@pytest.mark.parametrize("operation", ["BatchWriteItem", "BatchGetItem"])
def test_unprocessed_items_are_retried_until_done(
    stack: Stack, deps: IngestDeps, monkeypatch: pytest.MonkeyPatch, operation: str
) -> None:
    monkeypatch.setattr("loyalty_hub.dal.batch.time.sleep", lambda _: None)
    client = boto3.client("dynamodb", region_name=REGION)
    deps.customers = type(deps.customers)(client, stack.customers_table)
    client.meta.events.register(f"before-call.dynamodb.{operation}", _unprocessed_first(stack.customers_table, 3))
    deliver(stack, deps, "Bills", [bill("B1", ALICE, "100", "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01Z")])
    assert customer(stack, ALICE)["total_orders"] == 1


def test_unprocessed_items_that_never_clear_fail_the_delivery(
    stack: Stack, deps: IngestDeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("loyalty_hub.dal.batch.time.sleep", lambda _: None)
    client = boto3.client("dynamodb", region_name=REGION)
    deps.customers = type(deps.customers)(client, stack.customers_table)
    client.meta.events.register("before-call.dynamodb.BatchWriteItem", _unprocessed_first(stack.customers_table, 99))
    with pytest.raises(Unavailable):
        deliver(stack, deps, "Bills", [bill("B1", ALICE, "100", "2024-07-01T10:00:00+02:00", "2024-07-01T10:01Z")])


def test_a_crash_between_customer_and_entity_writes_is_repaired_by_the_retry(
    stack: Stack, deps: IngestDeps, clock: FixedClock
) -> None:
    data = [
        bill("B1", ALICE, "100", "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01Z"),
        bill("B2", BOB, "20", "2024-07-01T11:00:00+02:00", "2024-07-01T11:00:01Z"),
    ]
    pointer = archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", data)
    crashing = boto3.client("dynamodb", region_name=REGION)
    entities = type(deps.entities)(crashing, stack.entities_table)

    def crash(**_: Any) -> None:
        raise RuntimeError("execution environment died")

    crashing.meta.events.register("before-call.dynamodb.BatchWriteItem", crash)
    with pytest.raises(RuntimeError):
        ingest_delivery(dataclasses.replace(deps, entities=entities, clock=clock), pointer)
    assert entity_item(stack.entities_table, MERCHANT, "Bills", "B1") is None
    after_crash = customer(stack, ALICE)

    clock.now = clock.now.replace(hour=13)
    report = ingest_delivery(deps, pointer)  # SQS delivers the message again
    assert report.written == 2 and report.customers_changed == 0
    assert customer(stack, ALICE) == after_crash  # same version, same updated_at: nothing new to see
    assert entity_item(stack.entities_table, MERCHANT, "Bills", "B1") is not None


def _failing(code: str) -> Any:
    def hook(**_: Any) -> None:
        raise ClientError({"Error": {"Code": code, "Message": "injected"}}, "BatchGetItem")

    return hook


def test_a_throttled_table_fails_only_that_tenants_records(stack: Stack, lambda_context: Any) -> None:
    add_tenant(stack, "second")
    first = archive(
        stack.raw_bucket,
        MERCHANT,
        PLACE,
        "Bills",
        [bill("B1", ALICE, "1", "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01Z")],
    )
    second = archive(
        stack.raw_bucket,
        "second",
        PLACE,
        "Bills",
        [bill("B1", ALICE, "2", "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01Z")],
    )
    deps = ingest.default_deps()
    calls = {"n": 0}

    def throttle_first_tenant(params: dict[str, Any], **_: Any) -> None:
        calls["n"] += 1
        keys = params["body"].decode()
        if f"{MERCHANT}#" in keys:
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "x"}}, "BatchGetItem"
            )

    deps.entities._client.meta.events.register("before-call.dynamodb.BatchGetItem", throttle_first_tenant)
    event = sqs_event([structs.to_json(first)], group=MERCHANT)
    event["Records"] += sqs_event([structs.to_json(second)], group="second")["Records"]
    event["Records"][1]["messageId"] = "second-tenant-message"
    result = ingest_app.lambda_handler(event, lambda_context)
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert customer(stack, ALICE, tenant="second")["total_sales"] == Decimal("2")


def test_a_missing_archive_object_is_quarantined_not_retried(stack: Stack, lambda_context: Any, logs: Any) -> None:
    # A deleted or expired archive object can never be read: retrying it would hold the tenant's group.
    pointer = archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", [])
    boto3.client("s3", region_name=REGION).delete_object(Bucket=stack.raw_bucket, Key=pointer.key)
    event = sqs_event([structs.to_json(pointer)])
    assert ingest_app.lambda_handler(event, lambda_context) == {"batchItemFailures": []}
    [record] = QuarantineStore(boto3.client("dynamodb", region_name=REGION), stack.quarantine_table).list(MERCHANT)
    assert (record.code, record.entity_id, record.pointer.key) == ("delivery", "", pointer.key)
    [warning] = [line for line in logs.lines() if line["level"] == "WARNING"]
    assert warning["tenant"] == MERCHANT and warning["delivery_id"] == pointer.delivery_id
    assert warning["quarantined"] == 1


def test_integers_beyond_64_bits_are_stored_as_delivered(stack: Stack, deps: IngestDeps) -> None:
    # orjson refuses them: re-encoding a body failed its whole delivery, on every retry, before D54
    big = 10**30
    report = deliver(stack, deps, "Bills", [bill("B1", ALICE, 10, "2024-07-01T10:00:00+02:00",
                                                 "2024-07-01T10:00:01+02:00", loyaltyNumber=big)])  # fmt: skip
    assert report.written == 1 and customer(stack, ALICE)["total_sales"] == Decimal(10)
    stored = entity_item(stack.entities_table, MERCHANT, "Bills", "B1")
    assert stored is not None and json.loads(stored["body"])["loyaltyNumber"] == big
    # an entity without an id field is known by its content's hash, big integers included
    assert deliver(stack, deps, "PaymentTypes", [{"name": "voucher", "limit": big}]).written == 1


def test_a_domain_naming_one_of_the_hubs_own_partitions_is_quarantined_whole(stack: Stack, deps: IngestDeps) -> None:
    # An entity of domain "~ledger#<customer>" would land in that customer's ledger partition (D53): a body
    # archived before the webhook refused such domains is quarantined as a delivery, and nothing is written.
    deliver(stack, deps, "Bills", [bill("B1", ALICE, 10, "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01+02:00")])
    report = deliver(stack, deps, f"~ledger#{ALICE}", [{"id": "B1", "e": None}])
    [record] = QuarantineStore(deps.entities._client, stack.quarantine_table).list(MERCHANT)
    assert report.quarantined == 1 and record.code == "delivery" and "dataDomain" in record.reason
    assert customer(stack, ALICE)["total_sales"] == Decimal(10)
    slot = entity_item(stack.entities_table, MERCHANT, f"~ledger#{ALICE}", "B1")  # the bill's ledger slot
    assert slot is not None and "body" not in slot and slot["e"]


def test_a_malformed_pointer_fails_the_record(stack: Stack, lambda_context: Any) -> None:
    good = archive(
        stack.raw_bucket,
        MERCHANT,
        PLACE,
        "Bills",
        [bill("B1", ALICE, "1", "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01Z")],
    )
    event = sqs_event(['{"tenant_id": "x"}'], group="x")
    event["Records"] += sqs_event([structs.to_json(good)])["Records"]
    event["Records"][1]["messageId"] = "good"
    result = ingest_app.lambda_handler(event, lambda_context)
    assert result["batchItemFailures"] == [{"itemIdentifier": event["Records"][0]["messageId"]}]
    assert customer(stack, ALICE)["total_orders"] == 1


def test_webhook_then_ingest_round_trip(stack: Stack, lambda_context: Any) -> None:
    body = json.loads(load("webhook/bills-post.json")["body"])
    response = webhook_app.lambda_handler(
        webhook_event(body, merchant_id=MERCHANT, place_id=PLACE, authorization="demo-webhook-secret"), lambda_context
    )
    assert response["statusCode"] == 200
    sqs = boto3.client("sqs", region_name=REGION)
    [message] = sqs.receive_message(QueueUrl=stack.ingest_queue_url, MaxNumberOfMessages=10)["Messages"]
    assert ingest_app.lambda_handler(sqs_event([message["Body"]]), lambda_context) == {"batchItemFailures": []}
    assert customer(stack, ALICE)["total_orders"] == 2
