"""End to end on the local stack: a Storyous delivery in over HTTP, customers out through the DailyStory API."""

import json
import signal
from datetime import UTC, datetime, timedelta

import pytest

from loyalty_hub_dev.local.client import http_json, wait_for
from loyalty_hub_dev.local.stack import (
    CUSTOBAR_TOKEN,
    ORDERINGSTACK_CLIENT,
    ORDERINGSTACK_TENANT,
    STORYOUS_CLIENT,
    VOYADO_API_KEY,
)
from loyalty_hub_dev.local.template import ROOT, Resolver
from tests.integration.conftest import Running
from tests.support import iam
from tests.support.translated import translated

pytestmark = [pytest.mark.integration, pytest.mark.enable_socket, pytest.mark.allow_hosts(["127.0.0.1"])]

MERCHANT, PLACE = "60b6512e66943300381c2d24", "60b6512e66943300381c2d25"


@pytest.fixture(scope="module")
def tenant(local_stack: Running) -> dict[str, str]:
    admin = local_stack.admin()
    admin.create_tenant(MERCHANT, "Integration Café", "Europe/Prague", "CZ", {PLACE: "Square"})
    return {
        "secret": admin.set_webhook_secret(MERCHANT, None),
        "key": admin.issue_dailystory_key(MERCHANT, rotate=False),
    }


def test_a_delivery_reaches_the_dailystory_api(local_stack: Running, tenant: dict[str, str]) -> None:
    body = json.loads((ROOT / "events/webhook/bills-post.json").read_text())["body"].encode()
    webhook = f"{local_stack.api_url}/webhooks/storyous/{MERCHANT}/{PLACE}"
    assert http_json("POST", webhook, body, {"Authorization": "wrong"})[0] == 401
    status, answer = http_json("PUT", webhook, body, {"Authorization": f"Bearer {tenant['secret']}"})
    assert status == 200 and answer["entities"] == 6

    auth = {"Authorization": f"Bearer {tenant['key']}"}
    customers = f"{local_stack.api_url}/api/v1/customers"
    assert wait_for(lambda: http_json("GET", customers, headers=auth)[1].get("count") == 2, timeout=30)
    status, record = http_json("GET", f"{local_stack.api_url}/api/v1/customer/M4E6D346F7257504B", headers=auth)
    assert status == 200 and record["total_orders"] == 2 and record["total_sales"] == 239.4
    assert http_json("GET", f"{local_stack.api_url}/api/v1/customer/nobody", headers=auth) == (
        404,
        {"error": "No customer found for id nobody"},
    )
    assert http_json("GET", customers, headers={"Authorization": "Bearer nope.nope"})[0] == 401


def test_customer_changes_reach_the_custobar_sandbox(local_stack: Running, tenant: dict[str, str]) -> None:
    local_stack.admin().enable_custobar(
        MERCHANT,
        base_url=local_stack.custobar_url,
        auth="Token",
        field_prefix="it",
        credentials={"custobar_token": CUSTOBAR_TOKEN},
    )
    data = [
        {
            "billId": "IT-1",
            "customerId": "IT-C1",
            "finalPrice": "42.50",
            "paidAt": "2024-07-12T10:00:00+02:00",
            "currencyCode": "CZK",
            "_lastModifiedAt": "2024-07-12T10:00:01Z",
            "items": [{"productId": "p:1", "amount": 1, "price": 42.5, "categoryId": "c:1"}],
        }
    ]
    body = json.dumps({"dataDomain": "Bills", "data": data}).encode()
    webhook = f"{local_stack.api_url}/webhooks/storyous/{MERCHANT}/{PLACE}"
    assert http_json("POST", webhook, body, {"Authorization": tenant["secret"]})[0] == 200
    received = f"{local_stack.custobar_url}/_sandbox/received"

    def both_uploaded() -> bool:  # customers first, then sales: two requests, so wait for the second too
        got = http_json("GET", received)[1]
        return "sty-IT-2DC1" in got["customers"] and "IT-1-0" in got["sales"]

    assert wait_for(both_uploaded, timeout=30)
    got = http_json("GET", received)[1]
    assert got["customers"]["sty-IT-2DC1"]["it__total_sales"] == 4250
    assert got["sales"]["IT-1-0"]["sale_customer_id"] == "sty-IT-2DC1"


def test_voyado_enriches_and_orderingstack_counts_purchases(local_stack: Running, tenant: dict[str, str]) -> None:
    admin = local_stack.admin()
    admin.enable_voyado(MERCHANT, base_url=local_stack.voyado_url, api_key=VOYADO_API_KEY)
    admin.enable_orderingstack(
        MERCHANT,
        base_url=local_stack.orderingstack_url,
        os_tenant=ORDERINGSTACK_TENANT,
        grant="client_credentials",
        credentials={
            "orderingstack_client_id": ORDERINGSTACK_CLIENT[0],
            "orderingstack_client_secret": ORDERINGSTACK_CLIENT[1],
        },
    )
    webhook = f"{local_stack.api_url}/webhooks/storyous/{MERCHANT}/{PLACE}"
    loyalty = {
        "dataDomain": "Loyalty",
        "data": [{"customerId": "IT-V1", "email": "nobody@example.cz", "_lastModifiedAt": "2024-07-12T09:00:00Z"}],
    }
    bills = {
        "dataDomain": "Bills",
        "data": [
            {
                "billId": "IT-V-1",
                "customerId": "IT-V1",
                "finalPrice": "9",
                "paidAt": "2024-07-12T10:00:00+02:00",
                "_lastModifiedAt": "2024-07-12T10:00:01Z",
            }
        ],
    }
    for body in (loyalty, bills):
        assert http_json("POST", webhook, json.dumps(body).encode(), {"Authorization": tenant["secret"]})[0] == 200
    voyado = f"{local_stack.voyado_url}/_sandbox/received"
    assert wait_for(lambda: http_json("GET", voyado)[1]["accepted"] >= 1, timeout=30)  # looked up (not a member)
    customer = f"{local_stack.api_url}/api/v1/customer/IT-V1"
    record = http_json("GET", customer, headers={"Authorization": f"Bearer {tenant['key']}"})[1]
    assert record["email"] == "nobody@example.cz" and record["points"] is None
    received = f"{local_stack.orderingstack_url}/_sandbox/received"
    # the worker authenticated and found no account for the customer, so it posted no events
    assert wait_for(lambda: http_json("GET", received)[1]["tokens_issued"] >= 1, timeout=30)
    assert http_json("GET", received)[1]["events"] == {}


def test_the_storyous_pull_fires_on_demand_and_brings_in_a_bill_no_webhook_delivered(
    local_stack: Running, tenant: dict[str, str]
) -> None:
    status, listed = http_json("GET", f"{local_stack.control_url}/schedules")
    assert status == 200
    assert {s["function"]: s["expression"] for s in listed["schedules"]} == {
        "StoryousPullFunction": "rate(15 minutes)",
        "ReconcileFunction": "rate(1 hour)",
    }
    local_stack.admin().set_storyous_client(MERCHANT, *STORYOUS_CLIENT)
    recent = (datetime.now(UTC) - timedelta(hours=2)).isoformat(timespec="seconds")
    missed = {
        "billId": "IT-PULLED-1",
        "customerId": "C-PULLED",
        "finalPrice": "99.00",
        "paidAt": recent,
        "createdAt": recent,
        "currencyCode": "CZK",
        "refunded": False,
        "_lastModifiedAt": recent,
        "items": [{"name": "Tea", "amount": 1, "price": 99, "productId": "p:tea", "categoryId": "c:tea"}],
    }
    bills = f"{local_stack.storyous_url}/_sandbox/bills/{MERCHANT}-{PLACE}"
    assert http_json("POST", bills, json.dumps(missed).encode()) == (200, {"stored": 1})

    status, fired = http_json("POST", f"{local_stack.control_url}/schedules/StoryousPullFunction", timeout=120)

    assert status == 200 and fired["result"]["bills_queued"] == 1 and fired["result"]["failed"] == 0
    auth = {"Authorization": f"Bearer {tenant['key']}"}
    one = f"{local_stack.api_url}/api/v1/customer/C-PULLED"
    assert wait_for(lambda: http_json("GET", one, headers=auth)[0] == 200, timeout=30)
    assert http_json("GET", one, headers=auth)[1]["total_sales"] == 99.0
    # A second run finds nothing new: the cursor moved and the bill is known.
    again = http_json("POST", f"{local_stack.control_url}/schedules/StoryousPullFunction", timeout=120)[1]
    assert again["result"]["bills_queued"] == 0
    assert http_json("POST", f"{local_stack.control_url}/schedules/ReconcileFunction", timeout=120)[0] == 200


def test_trace_then_forget_a_customer_through_the_local_stack(local_stack: Running, tenant: dict[str, str]) -> None:
    """IT-V1 (Loyalty and a bill, above): trace finds both deliveries and the Custobar send; forget
    erases the person (the ingest function rewrites the archived Loyalty delivery and deletes its old
    versions, calls the IAM test below checks) and Custobar hears is_forgotten."""
    admin = local_stack.admin()
    ops, held = admin.customer_ops(), admin._tenant(MERCHANT)
    traced = ops.trace(held, "IT-V1")
    assert sorted(d["domain"] for d in traced["deliveries"]) == ["Bills", "Loyalty"]
    assert traced["hub"]["state"] == "served" and traced["hub"]["bills_counted"] == ["IT-V-1"]
    assert wait_for(lambda: (ops.trace(held, "IT-V1")["vendors"]["custobar"]["last_send"] or {}).get("status")
                    == "sent", timeout=30)  # fmt: skip
    done = ops.forget(held, "IT-V1", wait_seconds=60, poll_seconds=0.5)
    assert done.done and done.entry["report"]["archive_rewritten"] == 1 and done.entry["report"]["customer"] == "erased"
    auth = {"Authorization": f"Bearer {tenant['key']}"}
    assert http_json("GET", f"{local_stack.api_url}/api/v1/customer/IT-V1", headers=auth)[0] == 404
    received = f"{local_stack.custobar_url}/_sandbox/received"
    assert wait_for(lambda: http_json("GET", received)[1]["customers"]["sty-IT-2DV1"].get("is_forgotten"), timeout=30)
    assert "nobody@example.cz" not in json.dumps(http_json("GET", received)[1]["customers"]["sty-IT-2DV1"])
    after = ops.trace(held, "IT-V1")
    assert after["hub"]["state"] == "erased" and [e["status"] for e in after["erasures"]] == ["done"]


def test_an_unknown_route_answers_like_api_gateway(local_stack: Running) -> None:
    assert http_json("GET", f"{local_stack.api_url}/nowhere")[0] == 403


def test_ctrl_c_stops_the_stack_cleanly(local_stack: Running, tenant: dict[str, str]) -> None:
    # last in this module: it ends the shared process
    local_stack.process.send_signal(signal.SIGINT)
    assert local_stack.process.wait(timeout=30) == 0
    assert not local_stack.state.exists()


def test_every_aws_call_of_every_function_is_granted_by_its_own_policy(local_stack: Running) -> None:
    """After the module's traffic (run the whole module): each call each function made, against the
    statements of its role in the translated template. A call our policies do not grant fails here, not
    with AccessDenied after a deploy."""
    lines = (local_stack.state.parent / "calls.jsonl").read_text().splitlines()
    header, calls = json.loads(lines[0])["resources"], [json.loads(line) for line in lines[1:]]
    resolver = Resolver(
        header["names"],
        {tuple(k.split(".", 1)): v for k, v in header["attributes"].items()},  # type: ignore[misc]
        header["parameters"],
    )
    stream = header["attributes"]["CustomersTable.StreamArn"]
    functions = {name for name, r in translated()["Resources"].items() if r["Type"] == "AWS::Lambda::Function"}
    assert {c["function"] for c in calls} == functions, "run the whole module: every function must have run"
    refused = sorted(
        {
            (call["function"], action, arn)
            for call in calls
            for action, arn in iam.requests(call, stream)
            if not iam.allows(iam.statements(translated(), call["function"], resolver), action, arn, call.get("Prefix"))
        }
    )
    assert refused == []
