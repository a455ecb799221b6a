"""`admin trace` (D48): deliveries, state with the refund rule's reasons, each vendor's last send, and a
suggestion when something is stuck; the vendor worker notes last sends with one batch_put per batch."""

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.entities import EntityStore
from loyalty_hub.dal.ledger import LedgerStore
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.dal.vendor_ledger import LastSends
from loyalty_hub.logic import ingest
from loyalty_hub.models import structs
from loyalty_hub.models.tenant import Place, Tenant
from loyalty_hub.models.vendor_message import VendorMessage
from loyalty_hub.models.vendors import CustobarSettings, Vendors
from loyalty_hub.vendors.custobar import Custobar
from loyalty_hub.vendors.worker import process_batch
from loyalty_hub_dev.admin import Admin, Target, cli
from loyalty_hub_dev.sandboxes.custobar import CustobarSandbox
from tests.support.deliveries import archive, bill
from tests.support.stack import MERCHANT, PLACE, REGION, Stack, add_tenant, read_secret
from tests.support.wsgi_transport import session_for

TOKEN = "cb-token-0123456789"
SETTINGS = CustobarSettings(base_url="https://acme.custobar.com", field_prefix="acme", auth="Token")


@pytest.fixture
def custobar(stack: Stack) -> tuple[Custobar, CustobarSandbox]:
    add_tenant(stack, secret={"storyous_webhook_secret": "x" * 20, "custobar_token": TOKEN})
    client = boto3.client("dynamodb", region_name=REGION)
    store = TenantStore(stack.tenants_table, client=client, cache_seconds=0)
    store.put(Tenant(tenant_id=MERCHANT, name="Café", places={PLACE: Place()}, vendors=Vendors(custobar=SETTINGS)))
    sandbox = CustobarSandbox(token=TOKEN)
    vendor = Custobar(
        store,
        CustomerStore(client, stack.customers_table),
        EntityStore(client, stack.entities_table),
        lambda t: read_secret("custobar", t),
        ledger=LedgerStore(client, stack.entities_table),
        session=session_for(sandbox),
    )
    return vendor, sandbox


def record(message: VendorMessage, n: int) -> dict[str, Any]:
    return {"messageId": f"m{n}", "receiptHandle": f"r{n}", "body": structs.to_json(message),
            "attributes": {"ApproximateReceiveCount": "1"}}  # fmt: skip


def send(stack: Stack, vendor: Custobar, customers: list[str], bills: dict[str, list[str]]) -> list[str]:
    """One worker batch; returns the DynamoDB operations it made."""
    client = boto3.client("dynamodb", region_name=REGION)
    calls: list[str] = []
    client.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    messages = [VendorMessage(tenant_id=MERCHANT, customer_id=c, bill_ids=bills.get(c, [])) for c in customers]
    process_batch(
        {"Records": [record(m, n) for n, m in enumerate(messages)]}, vendor,
        sqs=boto3.client("sqs", region_name=REGION),
        queue_url=stack.custobar_queue_url, dlq_url=stack.custobar_dlq_url, max_receives=5,
        last_sends=LastSends(client, stack.vendor_ledger_table),
    )  # fmt: skip
    return calls


def test_trace_shows_deliveries_state_and_the_last_send(
    stack: Stack, custobar: tuple[Custobar, CustobarSandbox], capsys: Any
) -> None:
    vendor, sandbox = custobar
    bills = [
        bill("B1", "C1", 100, "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01Z"),
        bill("B2", "C1", 50, "2024-07-02T10:00:00+02:00", "2024-07-02T10:00:01Z", refunded=True),
        bill("B3", "C2", 70, "2024-07-02T11:00:00+02:00", "2024-07-02T11:00:01Z"),
    ]
    pointer = archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", bills, received_at=datetime(2024, 7, 3, tzinfo=UTC))
    ingest.ingest_delivery(ingest.default_deps(), pointer)
    send(stack, vendor, ["C1", "C2"], {"C1": ["B1", "B2"], "C2": ["B3"]})
    sandbox.faults = lambda request: "400"  # Custobar refuses the next upload for good
    send(stack, vendor, ["C2"], {})

    capsys.readouterr()  # the worker's own log lines
    assert cli.main(["--json", "trace", MERCHANT, "C1"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [d["domain"] for d in found["deliveries"]] == ["Bills"]
    assert found["hub"]["bills_counted"] == ["B1"]
    assert found["hub"]["bills_not_counted"] == [{"bill_id": "B2", "reason": "refunded"}]
    assert found["hub"]["dailystory_record"]["total_orders"] == 1
    last = found["vendors"]["custobar"]["last_send"]
    assert last["status"] == "sent" and last["attempt"] == 1
    assert found["vendors"]["voyado"] == {"state": "not configured"}
    assert found["suggestions"] == []

    found = (
        Admin(Target.from_environment()).customer_ops().trace(Admin(Target.from_environment())._tenant(MERCHANT), "C2")
    )
    last = found["vendors"]["custobar"]["last_send"]
    assert last["status"] == "dead_lettered" and last["http_status"] == 400 and "Invalid data" in last["reason"]
    assert any("dead-lettered" in s and "resend" in s for s in found["suggestions"])
    assert cli.main(["trace", MERCHANT, "C2"]) == 0
    text = capsys.readouterr().out
    assert "custobar: enabled, last dead_lettered" in text and "suggest:" in text


def test_last_sends_cost_one_batched_write_per_batch(stack: Stack, custobar: tuple[Custobar, CustobarSandbox]) -> None:
    vendor, _ = custobar
    customers = [f"C{i}" for i in range(30)]
    data = [bill(f"B{i}", c, 10, "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01Z") for i, c in enumerate(customers)]
    ingest.ingest_delivery(ingest.default_deps(), archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", data))
    calls = send(stack, vendor, customers, {})
    assert calls.count("BatchWriteItem") == 2  # 30 customers: one batch_put, in requests of 25
    assert LastSends(boto3.client("dynamodb", region_name=REGION), stack.vendor_ledger_table).get(
        "custobar", MERCHANT, "C29"
    )
