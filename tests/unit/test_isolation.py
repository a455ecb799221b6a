"""One bad record costs one record in the vendor workers: a refused record is found by halving its group,
an unmappable one fails alone, and waiting (pacing, Retry-After, a short time budget) never dead-letters."""

import json
import math
import threading
import time
from typing import Any

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.wrappers import Request

from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.entities import EntityStore
from loyalty_hub.dal.ledger import LedgerStore
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.logic import ingest
from loyalty_hub.models import structs
from loyalty_hub.models.tenant import Place, Tenant
from loyalty_hub.models.vendor_message import VendorMessage
from loyalty_hub.models.vendors import CustobarSettings, Vendors, VoyadoSettings
from loyalty_hub.remote.errors import PermanentError
from loyalty_hub.vendors.custobar import Custobar
from loyalty_hub.vendors.isolate import isolate
from loyalty_hub.vendors.voyado import Voyado, shop_bucket
from loyalty_hub.vendors.worker import process_batch
from loyalty_hub_dev.sandboxes.custobar import CustobarSandbox
from loyalty_hub_dev.sandboxes.voyado import VoyadoSandbox
from tests.support.deliveries import archive, bill
from tests.support.stack import MERCHANT, PLACE, REGION, Stack, add_tenant
from tests.support.wsgi_transport import session_for

TOKEN = "custobar-token-123"
CUSTOBAR = CustobarSettings(base_url="https://acme.custobar.com", field_prefix="acme", auth="Token")


# ------------------------------------------------------------------------------------------ halving
@given(st.integers(min_value=1, max_value=600), st.data())
def test_one_refused_record_among_n_costs_at_most_2_log2_n_plus_1_requests(n: int, data: st.DataObject) -> None:
    bad = data.draw(st.integers(min_value=0, max_value=n - 1))
    requests: list[int] = []

    def send(group: list[int]) -> None:
        requests.append(len(group))
        if bad in group:
            raise PermanentError("refused", status=400)

    errors = isolate([(i, i) for i in range(n)], send)
    assert list(errors) == [bad]
    assert len(requests) <= 2 * math.ceil(math.log2(n)) + 1


@given(st.sets(st.integers(min_value=0, max_value=99), max_size=10))
def test_every_refused_record_and_only_those_fail(bad: set[int]) -> None:
    def send(group: list[int]) -> None:
        if bad & set(group):
            raise PermanentError("refused", status=400)

    assert set(isolate([(i, i) for i in range(100)], send)) == bad


# ------------------------------------------------------------------------------------------ Custobar
@pytest.fixture
def custobar_sandbox() -> CustobarSandbox:
    return CustobarSandbox(token=TOKEN)


def custobar_worker(stack: Stack, sandbox: CustobarSandbox) -> Custobar:
    add_tenant(stack, secret={"storyous_webhook_secret": "x" * 20, "custobar_token": TOKEN})
    client = boto3.client("dynamodb", region_name=REGION)
    store = TenantStore(stack.tenants_table, client=client, cache_seconds=0)
    store.put(Tenant(tenant_id=MERCHANT, name="Café", places={PLACE: Place()}, vendors=Vendors(custobar=CUSTOBAR)))
    return Custobar(
        store,
        CustomerStore(client, stack.customers_table),
        EntityStore(client, stack.entities_table),
        lambda _: {"custobar_token": TOKEN},
        ledger=LedgerStore(client, stack.entities_table),
        session=session_for(sandbox),
    )


def records_for(messages: list[VendorMessage]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m{i}",
                "receiptHandle": f"r{i}",
                "body": structs.to_json(m),
                "attributes": {"ApproximateReceiveCount": "1"},
            }
            for i, m in enumerate(messages)
        ]
    }


def dead_letters(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get("Messages", [])


def test_custobar_refusing_one_of_100_customers_dead_letters_that_one(
    stack: Stack, custobar_sandbox: CustobarSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN 100 changed customers, one of whom Custobar refuses (its document names no per-record error,
    # so the sandbox refuses the whole upload that contains it, as an API validating a body would)
    vendor = custobar_worker(stack, custobar_sandbox)
    data = [bill(f"B{i}", f"C{i}", "10", "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01Z") for i in range(100)]
    ingest.ingest_delivery(ingest.default_deps(), archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", data))

    def refuse_c37(request: Request) -> str | None:
        return "400" if b'"sty-C37"' in request.get_data() else None

    custobar_sandbox.faults = refuse_c37
    messages = [VendorMessage(tenant_id=MERCHANT, customer_id=f"C{i}", bill_ids=[f"B{i}"]) for i in range(100)]
    sqs = boto3.client("sqs", region_name=REGION)
    # WHEN the worker delivers the batch
    outcome = process_batch(
        records_for(messages),
        vendor,
        sqs=sqs,
        queue_url=stack.custobar_queue_url,
        dlq_url=stack.custobar_dlq_url,
        max_receives=5,
    )
    # THEN 99 customers and their sales reach Custobar and C37 alone is dead-lettered with Custobar's reason
    assert outcome.sent == 99 and outcome.dead_lettered == 1 and outcome.failures == []
    assert len(custobar_sandbox.customers) == 99 and "sty-C37" not in custobar_sandbox.customers
    assert len(custobar_sandbox.sales) == 99
    [dead] = dead_letters(stack.custobar_dlq_url)
    assert json.loads(dead["Body"])["customer_id"] == "C37"
    assert "Invalid data for field 'email'" in dead["MessageAttributes"]["reason"]["StringValue"]
    uploads = [path for path, _ in custobar_sandbox.requests if path == "/api/customers/upload/"]
    assert len(uploads) <= 2 * math.ceil(math.log2(100)) + 1
    with capsys.disabled():
        print(f"\n  Custobar, 100 customers with 1 refused: {len(uploads)} customer uploads, 1 sales upload")


def test_a_bill_that_cannot_be_mapped_fails_only_its_customer(stack: Stack, custobar_sandbox: CustobarSandbox) -> None:
    vendor = custobar_worker(stack, custobar_sandbox)
    data = [bill(f"B{i}", f"C{i}", "10", "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01Z") for i in range(5)]
    data[2] |= {"paidAt": "yesterday", "createdAt": "not a date"}
    ingest.ingest_delivery(ingest.default_deps(), archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", data))
    messages = [VendorMessage(tenant_id=MERCHANT, customer_id=f"C{i}", bill_ids=[f"B{i}"]) for i in range(5)]
    errors = vendor.deliver(MERCHANT, messages)
    assert list(errors) == [2] and isinstance(errors[2], PermanentError)
    assert (
        errors[2].reason
        == "could not map the sale for Custobar: the bill has no readable sale date (paidAt, createdAt)"
    )
    assert sorted(row["sale_external_id"] for row in custobar_sandbox.sales.values()) == ["B0", "B1", "B3", "B4"]


def test_a_batch_started_too_late_is_deferred_whole_and_nothing_counts(
    stack: Stack, custobar_sandbox: CustobarSandbox
) -> None:
    vendor = custobar_worker(stack, custobar_sandbox)
    messages = [VendorMessage(tenant_id=MERCHANT, customer_id=f"C{i}") for i in range(3)]
    outcome = process_batch(
        records_for(messages),
        vendor,
        sqs=boto3.client("sqs", region_name=REGION),
        queue_url=stack.custobar_queue_url,
        dlq_url=stack.custobar_dlq_url,
        max_receives=5,
        time_left=lambda: 0.0,
    )
    assert outcome.deferred == 3 and outcome.failures == [] and custobar_sandbox.requests == []
    sqs = boto3.client("sqs", region_name=REGION)
    again = sqs.receive_message(
        QueueUrl=stack.custobar_queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    assert sorted(json.loads(m["Body"])["customer_id"] for m in again) == ["C0", "C1", "C2"]
    assert {m["MessageAttributes"]["attempts"]["StringValue"] for m in again} == {"0"}


# ------------------------------------------------------------------------------------------ Voyado
def test_two_voyado_invocations_against_an_empty_bucket_end_in_time_with_nothing_dead_lettered(
    stack: Stack,
) -> None:
    # GIVEN 100 customers, an empty shop bucket refilled 20 per second, and two invocations of 50 each
    # with a 3 s timeout (the real one is 60 s; the pacing arithmetic is the same, 20x faster)
    timeout, margin, rate = 3.0, 0.5, 20.0
    add_tenant(stack)
    settings = VoyadoSettings(base_url="https://live.voyado.eastsideapps.io", bucket_size=60, refill_per_second=rate)
    client = boto3.client("dynamodb", region_name=REGION)
    store = TenantStore(stack.tenants_table, client=client, cache_seconds=0)
    store.put(Tenant(tenant_id=MERCHANT, name="Café", places={PLACE: Place()}, vendors=Vendors(voyado=settings)))
    data = [
        {"customerId": f"C{i}", "email": f"c{i}@example.cz", "_lastModifiedAt": "2024-07-01T10:00:00Z"}
        for i in range(100)
    ]
    ingest.ingest_delivery(ingest.default_deps(), archive(stack.raw_bucket, MERCHANT, PLACE, "Loyalty", data))
    client.put_item(
        TableName=stack.rate_limit_table,
        Item={"pk": {"S": f"voyado#{MERCHANT}"}, "tokens": {"N": "0"}, "at": {"N": repr(time.time())}},
    )
    sandbox = VoyadoSandbox(api_key="k", bucket_size=60, drip_per_second=rate)
    outcomes: list[Any] = []
    durations: list[float] = []

    def invocation(first: int) -> None:
        own = boto3.client("dynamodb", region_name=REGION)
        vendor = Voyado(
            store,
            CustomerStore(own, stack.customers_table),
            lambda tenant, shop: shop_bucket(own, stack.rate_limit_table, tenant, shop),
            lambda update: None,
            lambda _: {"voyado_api_key": "k"},
            session=session_for(sandbox),
        )
        started = time.monotonic()
        messages = [VendorMessage(tenant_id=MERCHANT, customer_id=f"C{i}") for i in range(first, first + 50)]
        outcomes.append(
            process_batch(
                records_for(messages),
                vendor,
                sqs=boto3.client("sqs", region_name=REGION),
                queue_url=stack.voyado_queue_url,
                dlq_url=stack.voyado_dlq_url,
                max_receives=5,
                time_left=lambda: timeout - margin - (time.monotonic() - started),
            )
        )
        durations.append(time.monotonic() - started)

    threads = [threading.Thread(target=invocation, args=(first,)) for first in (0, 50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN both end inside their timeout, every message was looked up or deferred, none dead-lettered
    assert max(durations) < timeout
    assert sum(o.sent for o in outcomes) + sum(o.deferred for o in outcomes) == 100
    assert sum(o.deferred for o in outcomes) > 0 and sum(o.dead_lettered for o in outcomes) == 0
    assert all(o.failures == [] for o in outcomes)
    assert sandbox.throttled == 0 and dead_letters(stack.voyado_dlq_url) == []
