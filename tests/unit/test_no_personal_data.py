"""No personal data in log lines or DLQ attributes: every vendor, made to fail every way its document
allows, for customers whose names, emails, phones and card numbers are then looked for (goal 0)."""

import json
from typing import Any

import boto3
import pytest
from werkzeug.wrappers import Request

from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.entities import EntityStore
from loyalty_hub.dal.ledger import LedgerStore
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.dal.vendor_ledger import VendorLedger
from loyalty_hub.logic import ingest
from loyalty_hub.models import structs
from loyalty_hub.models.tenant import Place, Tenant
from loyalty_hub.models.vendor_message import VendorMessage
from loyalty_hub.models.vendors import CustobarSettings, OrderingStackSettings, Vendors, VoyadoSettings
from loyalty_hub.vendors import orderingstack
from loyalty_hub.vendors.custobar import Custobar
from loyalty_hub.vendors.orderingstack import OrderingStack
from loyalty_hub.vendors.voyado import Voyado, shop_bucket
from loyalty_hub.vendors.worker import process_batch
from loyalty_hub_dev.sandboxes.custobar import CustobarSandbox
from loyalty_hub_dev.sandboxes.orderingstack import OrderingStackSandbox
from loyalty_hub_dev.sandboxes.voyado import VoyadoSandbox
from tests.support.deliveries import archive, bill
from tests.support.doubles import LogCapture
from tests.support.stack import MERCHANT, PLACE, REGION, Stack, add_tenant
from tests.support.wsgi_transport import session_for

PEOPLE = [
    {"customerId": "P1", "firstName": "Zdeňka", "lastName": "Kořínková", "email": "zdenka.korinkova@example.cz",
     "phone": "+420 777 123 456", "cardNumber": "CARD-99887766"},
    {"customerId": "P2", "firstName": "Bořivoj", "lastName": "Šťastný", "email": "borivoj@example.cz",
     "phone": "602 987 654", "cardNumber": "../../event?inject=1#frag"},
]  # fmt: skip
PERSONAL = [p[k] for p in PEOPLE for k in ("firstName", "lastName", "email", "cardNumber")] + [
    "777 123 456", "777123456", "602 987 654", "602987654", "99887766",
]  # fmt: skip


def _records() -> dict[str, Any]:
    return {
        "Records": [
            {"messageId": f"m{i}", "receiptHandle": f"r{i}", "attributes": {"ApproximateReceiveCount": "5"},
             "body": structs.to_json(
                 VendorMessage(tenant_id=MERCHANT, customer_id=p["customerId"], bill_ids=["B1", "B2"]))}
            for i, p in enumerate(PEOPLE)
        ]
    }  # fmt: skip


def _dead_letter_attributes(url: str) -> str:
    sqs = boto3.client("sqs", region_name=REGION)
    found = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get("Messages", [])
    return json.dumps([m.get("MessageAttributes") for m in found], ensure_ascii=False)


@pytest.fixture
def people(stack: Stack) -> TenantStore:
    add_tenant(stack)
    client = boto3.client("dynamodb", region_name=REGION)
    store = TenantStore(stack.tenants_table, client=client, cache_seconds=0)
    vendors = Vendors(
        custobar=CustobarSettings(base_url="https://a.custobar.com", field_prefix="a"),
        voyado=VoyadoSettings(base_url="https://live.voyado.eastsideapps.io"),
        orderingstack=OrderingStackSettings(base_url="https://ordering.example.com", tenant="demo-tenant"),
    )
    store.put(Tenant(tenant_id=MERCHANT, name="Café", places={PLACE: Place()}, vendors=vendors))
    loyalty = [{**p, "_lastModifiedAt": "2024-07-01T10:00:00Z"} for p in PEOPLE]
    ingest.ingest_delivery(ingest.default_deps(), archive(stack.raw_bucket, MERCHANT, PLACE, "Loyalty", loyalty))
    bills = [bill(f"B{i}", p["customerId"], "10", "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01Z")
             for i, p in enumerate(PEOPLE, start=1)]  # fmt: skip
    ingest.ingest_delivery(ingest.default_deps(), archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", bills))
    return store


def _echo(request: Request) -> str:
    """A refusal that repeats the customer's values back, as a careless vendor would."""
    return request.get_data(as_text=True)


def _run(stack: Stack, vendor: Any, queue: str, dlq: str) -> None:
    process_batch(_records(), vendor, sqs=boto3.client("sqs", region_name=REGION), queue_url=queue, dlq_url=dlq,
                  max_receives=5)  # fmt: skip


@pytest.mark.parametrize("fault", ["400", "500", "timeout"])
def test_custobar_failures_name_no_personal_data(
    stack: Stack, people: TenantStore, logs: LogCapture, fault: str
) -> None:
    sandbox = CustobarSandbox(token="t", faults=lambda _: fault)
    client = boto3.client("dynamodb", region_name=REGION)
    vendor = Custobar(people, CustomerStore(client, stack.customers_table), EntityStore(client, stack.entities_table),
                      lambda _: {"custobar_token": "t"}, ledger=LedgerStore(client, stack.entities_table),
                      session=session_for(sandbox))  # fmt: skip
    _run(stack, vendor, stack.custobar_queue_url, stack.custobar_dlq_url)
    seen = logs.text() + _dead_letter_attributes(stack.custobar_dlq_url)
    assert "dead-lettered" in seen or fault != "400"
    assert [value for value in PERSONAL if value in seen] == []


def test_a_vendor_echoing_values_in_its_refusal_is_redacted(
    stack: Stack, people: TenantStore, logs: LogCapture
) -> None:
    sandbox = CustobarSandbox(token="t")
    sandbox._invalid = lambda kind, record: f"bad record {record!r}"  # type: ignore[method-assign]
    client = boto3.client("dynamodb", region_name=REGION)
    vendor = Custobar(people, CustomerStore(client, stack.customers_table), EntityStore(client, stack.entities_table),
                      lambda _: {"custobar_token": "t"}, ledger=LedgerStore(client, stack.entities_table),
                      session=session_for(sandbox))  # fmt: skip
    _run(stack, vendor, stack.custobar_queue_url, stack.custobar_dlq_url)
    seen = logs.text() + _dead_letter_attributes(stack.custobar_dlq_url)
    assert "bad record" in seen
    assert [value for value in PERSONAL if value in seen] == []


@pytest.mark.parametrize("fault", [None, 500])
def test_voyado_failures_name_no_personal_data(
    stack: Stack, people: TenantStore, logs: LogCapture, fault: int | None
) -> None:
    sandbox = VoyadoSandbox(api_key="k", faults=lambda _: fault)
    sandbox.add_contact(PEOPLE[0]["email"])
    sandbox.add_contact(PEOPLE[0]["email"])  # two contacts share the email: 409 MultipleMatches
    client = boto3.client("dynamodb", region_name=REGION)
    vendor = Voyado(people, CustomerStore(client, stack.customers_table),
                    lambda tenant, shop: shop_bucket(client, stack.rate_limit_table, tenant, shop),
                    lambda _: None, lambda _: {"voyado_api_key": "k"}, session=session_for(sandbox))  # fmt: skip
    _run(stack, vendor, stack.voyado_queue_url, stack.voyado_dlq_url)
    seen = logs.text() + _dead_letter_attributes(stack.voyado_dlq_url)
    assert "MultipleMatches" in seen or fault == 500
    assert [value for value in PERSONAL if value in seen] == []


def test_orderingstack_failures_name_no_personal_data(stack: Stack, people: TenantStore, logs: LogCapture) -> None:
    orderingstack.reset_tokens()
    sandbox = OrderingStackSandbox(client_id="hub", client_secret="s", tenant="demo-tenant")
    client = boto3.client("dynamodb", region_name=REGION)
    vendor = OrderingStack(people, CustomerStore(client, stack.customers_table),
                           VendorLedger(client, stack.vendor_ledger_table, "orderingstack"), lambda _: None,
                           lambda _: {"orderingstack_client_id": "hub", "orderingstack_client_secret": "s"},
                           bills=LedgerStore(client, stack.entities_table), session=session_for(sandbox))  # fmt: skip
    _run(stack, vendor, stack.orderingstack_queue_url, stack.orderingstack_dlq_url)
    seen = logs.text() + _dead_letter_attributes(stack.orderingstack_dlq_url)
    assert "does not fit" in seen  # P2's card was refused, and said so
    assert [value for value in PERSONAL if value in seen] == []
    orderingstack.reset_tokens()
