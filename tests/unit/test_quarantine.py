"""Quarantine: every record ingest cannot store is kept with its reason while the rest of its delivery is
stored on the same attempt; DynamoDB's refusals classified by their code (botocore stubs and event
hooks answer as DynamoDB does, since moto accepts what DynamoDB refuses); retry and drop."""

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from functions.ingest import app as ingest_app
from loyalty_hub.dal.batch import batch_put, classify
from loyalty_hub.dal.codec import to_item
from loyalty_hub.dal.quarantine import QuarantineStore
from loyalty_hub.errors import Refused, Unavailable
from loyalty_hub.limits import MAX_ITEM_BYTES, item_problem, item_size
from loyalty_hub.logic import ingest
from loyalty_hub.logic.quarantine import QuarantineOps
from loyalty_hub.models import structs
from loyalty_hub.models.datasync import DeliveryPointer
from tests.support.deliveries import archive, bill, customer_item, entity_item
from tests.support.events import sqs_event
from tests.support.stack import MERCHANT, PLACE, REGION, Stack

pytestmark = pytest.mark.usefixtures("tenant")

PAID, MODIFIED = "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01Z"


def good(n: int, customer: str = "C1") -> dict[str, Any]:
    return bill(f"G{n}", customer, "10", PAID, MODIFIED)


# One entity of each kind the webhook lets through (or the pull brings) and DynamoDB refuses.
POISON: dict[str, tuple[dict[str, Any], str]] = {
    "year 1 at +14:00": (bill("P1", "C9", "1", PAID, "0001-01-01T00:00:00+14:00"), "unparseable"),
    "entity over 400 KB": (bill("P2", "C9", "1", PAID, MODIFIED, note="x" * (MAX_ITEM_BYTES + 1)), "too_large"),
    "bill id over 1,024 bytes": (bill("P" * 1100, "C9", "1", PAID, MODIFIED), "invalid_id"),
    "customer id over 2,048 bytes": (bill("P4", "C" * 2100, "1", PAID, MODIFIED), "invalid_id"),
    "price 1e200": (bill("P5", "C9", 1e200, PAID, MODIFIED), "number_out_of_range"),
    # As a JSON number it reads as a float (orjson); Storyous sends prices as numeric strings too.
    "39-digit price": (
        bill("P6", "C9", "123456789012345678901234567890123456789", PAID, MODIFIED),
        "number_out_of_range",
    ),
    "paid in year 1 at +14:00": (bill("P7", "C9", "1", "0001-01-01T00:00:00+14:00", MODIFIED), "unparseable"),
}


def store(stack: Stack) -> QuarantineStore:
    return QuarantineStore(boto3.client("dynamodb", region_name=REGION), stack.quarantine_table)


@pytest.mark.parametrize("kind", list(POISON))
def test_each_kind_of_poison_is_quarantined_and_its_neighbours_stored(stack: Stack, kind: str) -> None:
    entity, code = POISON[kind]
    pointer = archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", [good(1), entity, good(2, "C2")])
    report = ingest.ingest_delivery(ingest.default_deps(), pointer)
    assert (report.written, report.quarantined) == (2, 1)
    [record] = store(stack).list(MERCHANT)
    assert record.code == code and record.pointer.key == pointer.key and record.delivery_id == pointer.delivery_id
    assert len(record.entity_id) <= 100 and "x" * 50 not in record.reason  # ids cut, no values in reasons
    assert customer_item(stack.customers_table, MERCHANT, "C1")["total_orders"] == 1
    assert customer_item(stack.customers_table, MERCHANT, "C2")["total_orders"] == 1
    assert customer_item(stack.customers_table, MERCHANT, "C9") is None  # a poison bill counts nowhere


def test_a_customer_past_the_old_400_kb_ledger_keeps_every_bill(stack: Stack) -> None:
    # The ledger inside the customer item (before D50) passed DynamoDB's item limit at about 2,900 bills.
    history = [bill(f"H{i:05d}", "BIG", "1", PAID, MODIFIED) for i in range(3000)]
    report = ingest.ingest_delivery(ingest.default_deps(), archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", history))
    assert (report.quarantined, report.written) == (0, 3000)
    item = customer_item(stack.customers_table, MERCHANT, "BIG")
    assert item["total_orders"] == 3000 and item_size(to_item(item)) < 120_000  # its bill ids, for capture
    later = archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", [bill("H9", "BIG", "1", PAID, MODIFIED)])
    assert ingest.ingest_delivery(ingest.default_deps(), later).written == 1
    assert customer_item(stack.customers_table, MERCHANT, "BIG")["total_orders"] == 3001


def test_the_next_delivery_of_the_tenant_is_ingested_in_the_same_receive(stack: Stack, lambda_context: Any) -> None:
    poison = archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", [POISON["price 1e200"][0], good(1)])
    after = archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", [good(2, "C2")])
    event = sqs_event([structs.to_json(poison), structs.to_json(after)])
    event["Records"][1]["messageId"] = "next-delivery"
    assert ingest_app.lambda_handler(event, lambda_context) == {"batchItemFailures": []}
    assert customer_item(stack.customers_table, MERCHANT, "C2")["total_orders"] == 1


def test_a_retry_after_the_cause_is_fixed_lands_like_any_delivery(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    entity = bill("B1", "C1", "10", PAID, "2024-07-01T10:00:01Z", note="x" * (MAX_ITEM_BYTES + 1))
    ingest.ingest_delivery(ingest.default_deps(), archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", [entity]))
    [record] = store(stack).list(MERCHANT)
    sqs = boto3.client("sqs", region_name=REGION)
    ops = QuarantineOps(store(stack), sqs, stack.ingest_queue_url)
    # The first retry, unfixed: quarantined again, with its attempts counted.
    assert ops.retry(ops.select(MERCHANT, [record.qid])) == 1
    assert ingest_once(stack).quarantined == 1
    [again] = store(stack).list(MERCHANT)
    assert again.qid == record.qid and again.attempts == 2
    # The mapping is fixed (here: the body no longer stored whole): the retry stores it and settles the record.
    real_item = ingest.DeliveryItems.checked

    def slim(self: Any, entity_id: str, version: str, text: str, customer_id: str | None = None) -> Any:
        body = {k: v for k, v in json.loads(text).items() if k != "note"}
        return real_item(self, entity_id, version, json.dumps(body), customer_id)

    monkeypatch.setattr(ingest.DeliveryItems, "checked", slim)
    ops.retry(ops.select(MERCHANT, None))
    report = ingest_once(stack)
    assert (report.written, report.quarantined, report.resolved) == (1, 0, 1)
    assert store(stack).list(MERCHANT) == []
    assert customer_item(stack.customers_table, MERCHANT, "C1")["total_orders"] == 1


def test_a_retry_of_a_record_a_newer_version_superseded_settles_it(stack: Stack) -> None:
    old = bill("B1", "C1", 1e200, PAID, "2024-07-01T10:00:00Z")
    ingest.ingest_delivery(ingest.default_deps(), archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", [old]))
    newer = bill("B1", "C1", "10", PAID, "2024-07-02T10:00:00Z")
    ingest.ingest_delivery(ingest.default_deps(), archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", [newer]))
    ops = QuarantineOps(store(stack), boto3.client("sqs", region_name=REGION), stack.ingest_queue_url)
    ops.retry(ops.select(MERCHANT, None))
    report = ingest_once(stack)
    assert report.resolved == 1 and report.stale == 1 and store(stack).list(MERCHANT) == []
    stored = entity_item(stack.entities_table, MERCHANT, "Bills", "B1")
    assert stored is not None and json.loads(stored["body"])["finalPrice"] == "10"


def test_drop_forgets_records_and_unknown_ids_are_refused(stack: Stack) -> None:
    ingest.ingest_delivery(
        ingest.default_deps(), archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", [POISON["price 1e200"][0]])
    )
    ops = QuarantineOps(store(stack), boto3.client("sqs", region_name=REGION), stack.ingest_queue_url)
    with pytest.raises(Exception, match="no quarantined record qnope"):
        ops.select(MERCHANT, ["qnope"])
    assert ops.drop(ops.select(MERCHANT, None)) == 1 and store(stack).count(MERCHANT) == 0


def ingest_once(stack: Stack) -> ingest.IngestReport:
    sqs = boto3.client("sqs", region_name=REGION)
    [message] = sqs.receive_message(QueueUrl=stack.ingest_queue_url, MaxNumberOfMessages=10)["Messages"]
    sqs.delete_message(QueueUrl=stack.ingest_queue_url, ReceiptHandle=message["ReceiptHandle"])
    return ingest.ingest_delivery(ingest.default_deps(), structs.decode(DeliveryPointer, message["Body"]))


# ------------------------------------------------------------------------------------------ DynamoDB's answers
def _error(code: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "BatchWriteItem")


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("ValidationException", Refused),
        ("ItemCollectionSizeLimitExceededException", Refused),
        ("ProvisionedThroughputExceededException", Unavailable),
        ("ThrottlingException", Unavailable),
        ("RequestLimitExceeded", Unavailable),
        ("InternalServerError", Unavailable),
        ("ServiceUnavailable", Unavailable),
        ("AccessDeniedException", Unavailable),
    ],
)
def test_dynamodb_errors_are_permanent_or_transient_by_their_code(code: str, kind: type) -> None:
    assert isinstance(classify(_error(code), "x"), kind)


def test_a_validation_error_on_a_batch_is_pinned_on_the_one_item_dynamodb_refuses() -> None:
    # What DynamoDB answers: the whole BatchWriteItem refused, then each PutItem on its own.
    client = boto3.client("dynamodb", region_name=REGION)
    items = [{"pk": {"S": f"k{i}"}, "v": {"N": "1"}} for i in range(3)]
    with Stubber(client) as stub:
        stub.add_client_error("batch_write_item", "ValidationException", "Item size has exceeded the maximum")
        stub.add_response("put_item", {}, {"TableName": "T", "Item": items[0]})
        stub.add_client_error("put_item", "ValidationException", "Item size has exceeded the maximum allowed size")
        stub.add_response("put_item", {}, {"TableName": "T", "Item": items[2]})
        refused = batch_put(client, "T", items)
    assert list(refused) == [1] and refused[1].code == "validation"
    assert "Item size has exceeded" in refused[1].reason


def test_a_throttled_batch_write_is_transient_and_nothing_is_refused() -> None:
    client = boto3.client("dynamodb", region_name=REGION)
    with Stubber(client) as stub:
        stub.add_client_error("batch_write_item", "ProvisionedThroughputExceededException", "slow down")
        with pytest.raises(Unavailable):
            batch_put(client, "T", [{"pk": {"S": "k"}}])


def test_unprocessed_items_are_retried_until_written() -> None:
    client = boto3.client("dynamodb", region_name=REGION)
    item = {"pk": {"S": "k"}}
    with Stubber(client) as stub:
        stub.add_response("batch_write_item", {"UnprocessedItems": {"T": [{"PutRequest": {"Item": item}}]}})
        stub.add_response("batch_write_item", {"UnprocessedItems": {}})
        assert batch_put(client, "T", [item], sleep=lambda _: None) == {}


@pytest.mark.parametrize(
    ("item", "code"),
    [
        ({"pk": {"S": "k" * 2049}}, "key_too_long"),
        ({"pk": {"S": "k"}, "sk": {"S": "s" * 1025}}, "key_too_long"),
        ({"pk": {"S": "k"}, "sk": {"S": ""}}, "key_too_long"),
        ({"pk": {"S": "k"}, "body": {"S": "b" * MAX_ITEM_BYTES}}, "too_large"),
        ({"pk": {"S": "k"}, "n": {"N": "1" * 39}}, "number_out_of_range"),
        ({"pk": {"S": "k"}, "m": {"M": {"n": {"N": "1E+200"}}}}, "number_out_of_range"),
        ({"pk": {"S": "k"}, "n": {"N": "1E-131"}}, "number_out_of_range"),
    ],
)
def test_the_limits_dynamodb_documents_are_checked_before_a_write(item: dict[str, Any], code: str) -> None:
    problem = item_problem(item, partition_keys=("pk",), sort_keys=("sk",))
    assert problem is not None and problem[0] == code


def test_items_within_the_limits_pass() -> None:
    item = {"pk": {"S": "k" * 2048}, "sk": {"S": "s" * 1024}, "n": {"N": "9" * 38}, "z": {"N": "0"}}
    assert item_problem(item, partition_keys=("pk",), sort_keys=("sk",)) is None
