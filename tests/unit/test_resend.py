"""Resend: customers back on their vendors' queues from the table, by command and after a capture failure."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from loyalty_hub import config
from loyalty_hub.config import ReconcileSettings
from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.entities import EntityStore
from loyalty_hub.dal.ledger import LedgerStore
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.logic import ingest, reconcile
from loyalty_hub.logic.reconcile import ReconcileDeps
from loyalty_hub.logic.resend import ResendDeps, resend
from loyalty_hub.models.tenant import Place, Tenant
from loyalty_hub.models.vendors import CustobarSettings, Vendors
from loyalty_hub.vendors.custobar import Custobar
from loyalty_hub.vendors.worker import process_batch
from loyalty_hub_dev.sandboxes.custobar import CustobarSandbox
from tests.support.deliveries import archive, bill
from tests.support.stack import MERCHANT, PLACE, REGION, Stack, add_tenant
from tests.support.wsgi_transport import session_for

TOKEN = "custobar-token-123"
SETTINGS = CustobarSettings(base_url="https://acme.custobar.com", field_prefix="acme", auth="Token")
SEQ = 800000000003126276362  # 21 digits, as the Streams API shapes them
STREAM_ARN = "arn:aws:dynamodb:eu-central-1:123456789012:table/Customers/stream/2024-07-01T00:00:00.000"


@pytest.fixture
def tenant_with_custobar(stack: Stack) -> TenantStore:
    add_tenant(stack, secret={"storyous_webhook_secret": "x" * 20, "custobar_token": TOKEN})
    store = TenantStore(stack.tenants_table, client=boto3.client("dynamodb", region_name=REGION), cache_seconds=0)
    store.put(Tenant(tenant_id=MERCHANT, name="Café", places={PLACE: Place()}, vendors=Vendors(custobar=SETTINGS)))
    data = [bill(f"B{i}", f"C{i % 3}", "10", "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01Z") for i in range(6)]
    ingest.ingest_delivery(ingest.default_deps(), archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", data))
    return store


def queued(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages"):
        found += batch
    return found


def resend_deps(stack: Stack, tenants: TenantStore) -> ResendDeps:
    queues = {"custobar": stack.custobar_queue_url, "voyado": stack.voyado_queue_url}
    client = boto3.client("dynamodb", region_name=REGION)
    customers, ledger = CustomerStore(client, stack.customers_table), LedgerStore(client, stack.entities_table)
    return ResendDeps(tenants, customers, ledger, boto3.client("sqs"), queues)


def test_resend_queues_the_named_customers_with_all_their_bills_for_enabled_vendors(
    stack: Stack, tenant_with_custobar: TenantStore
) -> None:
    progress: list[int] = []
    report = resend(
        resend_deps(stack, tenant_with_custobar),
        MERCHANT,
        customer_ids=["C1", "nobody"],
        progress=lambda r: progress.append(r.customers),
    )
    assert report.vendors == ["custobar"] and report.messages == {"custobar": 1} and report.missing == ["nobody"]
    assert progress == [1]
    [message] = queued(stack.custobar_queue_url)
    assert json.loads(message["Body"]) == {"tenant_id": MERCHANT, "customer_id": "C1", "bill_ids": ["B1", "B4"]}
    assert queued(stack.voyado_queue_url) == []  # Voyado is not enabled for this tenant


def test_resend_without_names_queues_every_customer_updated_since(
    stack: Stack, tenant_with_custobar: TenantStore
) -> None:
    everyone = resend(resend_deps(stack, tenant_with_custobar), MERCHANT)
    assert everyone.customers == 3 and len(queued(stack.custobar_queue_url)) == 3
    later = resend(resend_deps(stack, tenant_with_custobar), MERCHANT, since="2999-01-01T00:00:00.000000Z")
    assert later.customers == 0 and queued(stack.custobar_queue_url) == []


# ------------------------------------------------------------------------------------------ capture failures
def failure_record(start: int, end: int, arrived: datetime) -> str:
    """What Lambda's on-failure destination receives for a DynamoDB stream batch (Lambda developer guide)."""
    return json.dumps(
        {
            "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 101},
            "version": "1.0",
            "timestamp": arrived.isoformat(),
            "DDBStreamBatchInfo": {
                "shardId": "shardId-00000001573689847184-864758bb",
                "startSequenceNumber": str(start),
                "endSequenceNumber": str(end),
                "approximateArrivalOfFirstRecord": arrived.isoformat(),
                "approximateArrivalOfLastRecord": arrived.isoformat(),
                "batchSize": 2,
                "streamArn": STREAM_ARN,
            },
        }
    )


def stream_record(sequence: int, customer_id: str) -> dict[str, Any]:
    return {"dynamodb": {"Keys": {"pk": {"S": f"{MERCHANT}#{customer_id}"}}, "SequenceNumber": str(sequence)}}


@pytest.fixture
def reconcile_deps(stack: Stack, tenant_with_custobar: TenantStore, monkeypatch: pytest.MonkeyPatch) -> ReconcileDeps:
    url = boto3.client("sqs", region_name=REGION).get_queue_url(QueueName="CaptureFailureQueue")["QueueUrl"]
    monkeypatch.setenv("CAPTURE_FAILURE_QUEUE_URL", url)
    monkeypatch.setenv("VENDOR_DEAD_LETTER_QUEUES", "{}")
    monkeypatch.setenv("QUARANTINE_TABLE", stack.quarantine_table)
    client = boto3.client("dynamodb", region_name=REGION)
    return ReconcileDeps(
        settings=config.load(ReconcileSettings),
        sqs=boto3.client("sqs", region_name=REGION),
        tenants=tenant_with_custobar,
        dynamodb=client,
        streams=boto3.client("dynamodbstreams", region_name=REGION),
        receive_wait_seconds=0,
    )


def deliver_custobar(stack: Stack, tenants: TenantStore, sandbox: CustobarSandbox) -> None:
    client = boto3.client("dynamodb", region_name=REGION)
    vendor = Custobar(
        tenants,
        CustomerStore(client, stack.customers_table),
        EntityStore(client, stack.entities_table),
        lambda _: {"custobar_token": TOKEN},
        ledger=LedgerStore(client, stack.entities_table),
        session=session_for(sandbox),
    )
    messages = queued(stack.custobar_queue_url)
    event = {
        "Records": [
            {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"], "attributes": {}}
            for m in messages
        ]
    }
    outcome = process_batch(
        event, vendor, sqs=boto3.client("sqs"), queue_url=stack.custobar_queue_url,
        dlq_url=stack.custobar_dlq_url, max_receives=5,
    )  # fmt: skip
    assert outcome.failures == [] and outcome.dead_lettered == 0


def test_a_capture_failure_is_resent_and_reaches_the_vendor(
    stack: Stack, tenant_with_custobar: TenantStore, reconcile_deps: ReconcileDeps
) -> None:
    # GIVEN a stream batch (C0, C2) that capture gave up on: its record in the failure queue
    url = reconcile_deps.settings.CAPTURE_FAILURE_QUEUE_URL
    boto3.client("sqs").send_message(QueueUrl=url, MessageBody=failure_record(SEQ, SEQ + 1, datetime.now(UTC)))
    # and the stream still holding it (moto's Streams API does not answer botocore: answers as AWS documents)
    stubber = Stubber(reconcile_deps.streams)
    stubber.add_response(
        "get_shard_iterator",
        {"ShardIterator": "it-1"},
        {
            "StreamArn": STREAM_ARN,
            "ShardId": "shardId-00000001573689847184-864758bb",
            "ShardIteratorType": "AT_SEQUENCE_NUMBER",
            "SequenceNumber": str(SEQ),
        },
    )
    stubber.add_response(
        "get_records",
        {
            "Records": [stream_record(SEQ, "C0"), stream_record(SEQ + 1, "C2"), stream_record(SEQ + 2, "C1")],
            "NextShardIterator": "it-2",
        },
        {"ShardIterator": "it-1", "Limit": 1000},
    )
    # WHEN reconcile runs, then the Custobar worker
    with stubber:
        report = reconcile.run(reconcile_deps, lambda: 300.0)
    assert report.capture_failures_resent == 1 and report.customers_resent == 2
    sandbox = CustobarSandbox(token=TOKEN)
    deliver_custobar(stack, tenant_with_custobar, sandbox)
    # THEN Custobar holds exactly the batch's customers (C1's record came after the batch), with their sales
    assert sorted(sandbox.customers) == ["sty-C0", "sty-C2"]
    assert sorted(row["sale_external_id"] for row in sandbox.sales.values()) == ["B0", "B2", "B3", "B5"]
    assert queued(url) == []  # the failure record is done


def test_a_capture_failure_older_than_the_stream_resends_its_time_window(
    stack: Stack, tenant_with_custobar: TenantStore, reconcile_deps: ReconcileDeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    scans: list[int] = []
    real_list = TenantStore.list
    monkeypatch.setattr(TenantStore, "list", lambda self: scans.append(1) or real_list(self))
    url = reconcile_deps.settings.CAPTURE_FAILURE_QUEUE_URL
    updated = CustomerStore(boto3.client("dynamodb"), stack.customers_table).get(MERCHANT, "C0")
    assert updated is not None
    arrived = datetime.fromisoformat(updated["updated_at"]) + timedelta(seconds=1)
    boto3.client("sqs").send_message(QueueUrl=url, MessageBody=failure_record(SEQ, SEQ + 1, arrived))
    stubber = Stubber(reconcile_deps.streams)
    stubber.add_client_error("get_shard_iterator", "TrimmedDataAccessException", "records trimmed")
    with stubber:
        report = reconcile.run(reconcile_deps, lambda: 300.0)
    assert report.capture_failures_resent == 1 and report.customers_resent == 3  # all three in the window
    assert len(queued(stack.custobar_queue_url)) == 3
    assert len(scans) == 1  # one scan of the tenants for the window, the quarantine count and the Voyado refresh


def test_a_stream_that_cannot_be_read_now_leaves_the_failure_for_the_next_run(
    stack: Stack, reconcile_deps: ReconcileDeps
) -> None:
    url = reconcile_deps.settings.CAPTURE_FAILURE_QUEUE_URL
    boto3.client("sqs").send_message(QueueUrl=url, MessageBody=failure_record(SEQ, SEQ + 1, datetime.now(UTC)))
    stubber = Stubber(reconcile_deps.streams)
    stubber.add_client_error("get_shard_iterator", "LimitExceededException", "slow down")
    with stubber:
        report = reconcile.run(reconcile_deps, lambda: 300.0)
    assert report.capture_failures_resent == 0 and queued(stack.custobar_queue_url) == []
    sqs = boto3.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
    assert attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "1"  # back after its visibility
