"""A refused credential, for every vendor: the messages are kept (retried every 15 minutes, never
dead-lettered at once), `AuthFailed` is counted with the vendor as its dimension (the alarms' metric),
and an ERROR line tells the operator which tenant's secret to fix."""

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from werkzeug.wrappers import Response

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
from tests.support.deliveries import archive
from tests.support.doubles import LogCapture
from tests.support.stack import MERCHANT, PLACE, REGION, Stack, add_tenant
from tests.support.wsgi_transport import session_for


@pytest.fixture
def tenants(stack: Stack) -> TenantStore:
    add_tenant(stack)
    store = TenantStore(stack.tenants_table, client=boto3.client("dynamodb", region_name=REGION), cache_seconds=0)
    vendors = Vendors(
        custobar=CustobarSettings(base_url="https://a.custobar.com", field_prefix="a"),
        voyado=VoyadoSettings(base_url="https://live.voyado.eastsideapps.io"),
        orderingstack=OrderingStackSettings(base_url="https://ordering.example.com", tenant="demo-tenant"),
    )
    store.put(Tenant(tenant_id=MERCHANT, name="Café", places={PLACE: Place()}, vendors=vendors))
    loyalty = [{"customerId": "C1", "email": "a@example.cz", "_lastModifiedAt": "2024-07-01T10:00:00Z"}]
    ingest.ingest_delivery(ingest.default_deps(), archive(stack.raw_bucket, MERCHANT, PLACE, "Loyalty", loyalty))
    return store


def _custobar(stack: Stack, tenants: TenantStore) -> tuple[Any, str, str]:
    client = boto3.client("dynamodb", region_name=REGION)
    sandbox = CustobarSandbox(token="the-right-token")
    vendor = Custobar(
        tenants,
        CustomerStore(client, stack.customers_table),
        EntityStore(client, stack.entities_table),
        lambda _: {"custobar_token": "a-revoked-token"},
        ledger=LedgerStore(client, stack.entities_table),
        session=session_for(sandbox),
    )
    return vendor, stack.custobar_queue_url, stack.custobar_dlq_url


def _voyado(stack: Stack, tenants: TenantStore) -> tuple[Any, str, str]:
    client = boto3.client("dynamodb", region_name=REGION)
    sandbox = VoyadoSandbox(api_key="k")
    sandbox._answer = lambda _: Response(  # type: ignore[method-assign]
        json.dumps({"message": "Unauthorized"}), status=401, content_type="application/json"
    )
    vendor = Voyado(
        tenants,
        CustomerStore(client, stack.customers_table),
        lambda tenant, shop: shop_bucket(client, stack.rate_limit_table, tenant, shop),
        lambda _: None,
        lambda _: {"voyado_api_key": "k"},
        session=session_for(sandbox),
    )
    return vendor, stack.voyado_queue_url, stack.voyado_dlq_url


def _orderingstack(stack: Stack, tenants: TenantStore) -> tuple[Any, str, str]:
    orderingstack.reset_tokens()
    client = boto3.client("dynamodb", region_name=REGION)
    sandbox = OrderingStackSandbox(client_id="hub", client_secret="the-right-secret", tenant="demo-tenant")
    vendor = OrderingStack(
        tenants,
        CustomerStore(client, stack.customers_table),
        VendorLedger(client, stack.vendor_ledger_table, "orderingstack"),
        lambda _: None,
        lambda _: {"orderingstack_client_id": "hub", "orderingstack_client_secret": "an-old-secret"},
        bills=LedgerStore(client, stack.entities_table),
        session=session_for(sandbox),
    )
    return vendor, stack.orderingstack_queue_url, stack.orderingstack_dlq_url


VENDORS: dict[str, Callable[[Stack, TenantStore], tuple[Any, str, str]]] = {
    "custobar": _custobar,
    "voyado": _voyado,
    "orderingstack": _orderingstack,
}


@pytest.mark.parametrize("name", VENDORS)
def test_refused_credentials_keep_the_messages_count_auth_failed_and_say_which_secret(
    stack: Stack, tenants: TenantStore, logs: LogCapture, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    vendor, queue, dlq = VENDORS[name](stack, tenants)
    record = {
        "messageId": "m1",
        "receiptHandle": "r1",
        "attributes": {"ApproximateReceiveCount": "1"},
        "body": structs.to_json(VendorMessage(tenant_id=MERCHANT, customer_id="C1")),
    }
    sqs = boto3.client("sqs", region_name=REGION)
    sqs.send_message(QueueUrl=queue, MessageBody=record["body"])
    received = sqs.receive_message(QueueUrl=queue)["Messages"][0]
    record["receiptHandle"] = received["ReceiptHandle"]

    outcome = process_batch({"Records": [record]}, vendor, sqs=sqs, queue_url=queue, dlq_url=dlq, max_receives=5)

    assert outcome.retried == 1 and outcome.dead_lettered == 0
    assert outcome.failures == [{"itemIdentifier": "m1"}]
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    auth = [m for m in emf if "AuthFailed" in m]
    assert len(auth) == 1 and auth[0]["vendor"] == name and "tenant" not in auth[0]
    assert sorted(auth[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]) == ["service", "vendor"]
    errors = [line for line in logs.lines() if line["level"] == "ERROR"]
    assert any("credentials" in line["message"] and line.get("tenant") == MERCHANT for line in errors)
    assert (
        sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
            "ApproximateNumberOfMessages"
        ]
        == "0"
    )
    orderingstack.reset_tokens()
