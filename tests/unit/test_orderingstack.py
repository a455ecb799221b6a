"""OrderingStack: OAuth token caching and renewal, x-tenant on every call, purchases as events with stable
ids (a retry never counts twice), accounts read back for points and card, against a sandbox."""

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.vendors import app as vendors_app
from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.ledger import LedgerStore
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.dal.vendor_ledger import VendorLedger
from loyalty_hub.logic import ingest
from loyalty_hub.models.enrichment import EnrichmentUpdate
from loyalty_hub.models.tenant import Place, Tenant
from loyalty_hub.models.vendor_message import VendorMessage
from loyalty_hub.models.vendors import OrderingStackSettings, Vendors
from loyalty_hub.remote.errors import PermanentError, RetryableError
from loyalty_hub.vendors import orderingstack, wiring
from loyalty_hub.vendors.orderingstack import OrderingStack, account_id, event_id
from loyalty_hub_dev.sandboxes.orderingstack import OrderingStackSandbox
from tests.support.deliveries import archive, bill, customer_item
from tests.support.events import load
from tests.support.stack import MERCHANT, PLACE, REGION, Stack, add_tenant
from tests.support.wsgi_transport import session_for

SECRET = {"orderingstack_client_id": "hub", "orderingstack_client_secret": "s3cret"}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sandbox(clock: Clock) -> OrderingStackSandbox:
    sandbox = OrderingStackSandbox(
        client_id="hub", client_secret="s3cret", tenant="demo-tenant", token_seconds=600, clock=clock
    )
    sandbox.add_account(account_id("C1"), points=40)
    sandbox.add_account("os-777", points=12, card="CARD777")
    return sandbox


@pytest.fixture
def enriched() -> list[EnrichmentUpdate]:
    return []


@pytest.fixture
def vendor(
    stack: Stack, sandbox: OrderingStackSandbox, enriched: list[EnrichmentUpdate], clock: Clock
) -> Iterator[OrderingStack]:
    orderingstack.reset_tokens()
    add_tenant(stack)
    client = boto3.client("dynamodb", region_name=REGION)
    store = TenantStore(stack.tenants_table, client=client, cache_seconds=0)
    settings = OrderingStackSettings(base_url="https://ordering.example.com", tenant="demo-tenant")
    store.put(Tenant(tenant_id=MERCHANT, name="Café", places={PLACE: Place()}, vendors=Vendors(orderingstack=settings)))
    yield OrderingStack(
        store,
        CustomerStore(client, stack.customers_table),
        VendorLedger(client, stack.vendor_ledger_table, "orderingstack"),
        enriched.append,
        lambda _: SECRET,
        bills=LedgerStore(client, stack.entities_table),
        session=session_for(sandbox),
        clock=clock,
        now=lambda: datetime(2024, 7, 12, 9, tzinfo=UTC),
    )
    orderingstack.reset_tokens()


def purchases(stack: Stack, customer: str, bills: list[str], **extra: Any) -> VendorMessage:
    data = [bill(b, customer, "10", "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01Z", **extra) for b in bills]
    ingest.ingest_delivery(ingest.default_deps(), archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", data))
    return VendorMessage(tenant_id=MERCHANT, customer_id=customer, bill_ids=bills)


def test_ids_fit_orderingstacks_patterns() -> None:
    assert account_id("M4E6D346F7257504B") == "sty.M4E6D346F7257504B"
    assert account_id("a b_c") == "sty.a_20b_5Fc" and account_id("a b_c") != account_id("a_20b_5Fc")
    assert event_id(MERCHANT, "TM/2024 1") == f"sty.{MERCHANT}.TM_2F2024_201"


@given(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20))
def test_event_ids_are_one_to_one_within_the_documented_pattern(a: str, b: str) -> None:
    # doc L636-638: id [a-zA-Z0-9_.-]+; bills X/1 and X_1 once became one event
    assert re.fullmatch(r"[a-zA-Z0-9_.-]+", event_id(MERCHANT, a))
    assert (event_id(MERCHANT, a) == event_id(MERCHANT, b)) == (a == b)
    assert event_id(MERCHANT, "X/1") != event_id(MERCHANT, "X_1")


def test_a_customer_id_too_long_for_an_account_is_refused_not_cut() -> None:
    assert len(account_id("C" * 60)) == 64
    with pytest.raises(PermanentError, match="64"):
        account_id("C" * 61)


def test_purchases_become_events_once_however_often_they_are_sent(
    stack: Stack, vendor: OrderingStack, sandbox: OrderingStackSandbox, enriched: list[EnrichmentUpdate]
) -> None:
    message = purchases(stack, "C1", ["B1", "B2"])
    assert vendor.deliver(MERCHANT, [message]) == {}
    assert vendor.deliver(MERCHANT, [message]) == {}  # SQS delivered it again
    assert sorted(sandbox.events) == [event_id(MERCHANT, "B1"), event_id(MERCHANT, "B2")]
    assert set(sandbox.posts.values()) == {1}  # each id posted once: the sandbox would count a repeat
    assert sandbox.events[event_id(MERCHANT, "B1")]["account"] == account_id("C1")
    assert sandbox.tokens_issued == 1  # the token was reused
    assert enriched[0].vendor == "orderingstack" and enriched[0].data["points"] == 40


def test_refunded_bills_are_not_posted(stack: Stack, vendor: OrderingStack, sandbox: OrderingStackSandbox) -> None:
    message = purchases(stack, "C1", ["B1"], refunded=True)
    assert vendor.deliver(MERCHANT, [message]) == {}
    assert sandbox.events == {}


def test_a_card_finds_its_account(
    stack: Stack, vendor: OrderingStack, sandbox: OrderingStackSandbox, enriched: list[EnrichmentUpdate]
) -> None:
    ingest.ingest_delivery(
        ingest.default_deps(),
        archive(
            stack.raw_bucket,
            MERCHANT,
            PLACE,
            "Loyalty",
            [{"customerId": "C9", "cardNumber": "CARD777", "_lastModifiedAt": "2024-07-01T00:00:00Z"}],
        ),
    )
    message = purchases(stack, "C9", ["B9"])
    assert vendor.deliver(MERCHANT, [message]) == {}
    assert sandbox.events[event_id(MERCHANT, "B9")]["account"] == "os-777"
    assert enriched[-1].data == {"account": "os-777", "points": 12, "card": "CARD777", "withdrawn": []}


def test_customers_without_an_account_are_skipped(
    stack: Stack, vendor: OrderingStack, sandbox: OrderingStackSandbox
) -> None:
    assert vendor.deliver(MERCHANT, [purchases(stack, "NOBODY", ["B5"])]) == {}
    assert sandbox.events == {}


def test_an_expired_token_is_renewed_and_a_401_renews_once(
    stack: Stack, vendor: OrderingStack, sandbox: OrderingStackSandbox, clock: Clock
) -> None:
    vendor.deliver(MERCHANT, [purchases(stack, "C1", ["B1"])])
    clock.now += 600 - 30  # inside the renewal margin: a new token before the old one lapses
    vendor.deliver(MERCHANT, [purchases(stack, "C1", ["B2"])])
    assert sandbox.tokens_issued == 2
    sandbox.expire_tokens()  # revoked early: the call gets 401, renews once, succeeds
    vendor.deliver(MERCHANT, [purchases(stack, "C1", ["B3"])])
    assert sandbox.tokens_issued == 3 and len(sandbox.events) == 3


def test_wrong_client_credentials_keep_the_messages(
    stack: Stack, vendor: OrderingStack, sandbox: OrderingStackSandbox
) -> None:
    sandbox.client_secret = "rotated"
    errors = vendor.deliver(MERCHANT, [purchases(stack, "C1", ["B1"])])
    assert isinstance(errors[0], RetryableError) and errors[0].retry_after == 900


def test_the_password_grant_is_configurable(
    stack: Stack, sandbox: OrderingStackSandbox, enriched: list[EnrichmentUpdate], clock: Clock
) -> None:
    orderingstack.reset_tokens()
    add_tenant(stack)
    client = boto3.client("dynamodb", region_name=REGION)
    store = TenantStore(stack.tenants_table, client=client, cache_seconds=0)
    settings = OrderingStackSettings(base_url="https://ordering.example.com", tenant="demo-tenant", grant="password")
    store.put(Tenant(tenant_id=MERCHANT, name="Café", places={PLACE: Place()}, vendors=Vendors(orderingstack=settings)))
    vendor = OrderingStack(
        store,
        CustomerStore(client, stack.customers_table),
        VendorLedger(client, stack.vendor_ledger_table, "orderingstack"),
        enriched.append,
        lambda _: {**SECRET, "orderingstack_username": "u", "orderingstack_password": "p"},
        bills=LedgerStore(client, stack.entities_table),
        session=session_for(sandbox),
        clock=clock,
    )
    assert vendor.deliver(MERCHANT, [purchases(stack, "C1", ["B1"])]) == {}
    assert len(sandbox.events) == 1


def test_orderingstack_points_rank_after_voyado(
    stack: Stack, vendor: OrderingStack, enriched: list[EnrichmentUpdate]
) -> None:
    vendor.deliver(MERCHANT, [purchases(stack, "C1", ["B1"])])
    ingest.apply_enrichment(ingest.default_deps(), enriched[0])
    item = customer_item(stack.customers_table, MERCHANT, "C1")
    assert item is not None and item["points"] == Decimal(40)
    voyado = EnrichmentUpdate(
        tenant_id=MERCHANT,
        customer_id="C1",
        vendor="voyado",
        observed_at=datetime(2024, 7, 12, 10, tzinfo=UTC),
        data={"status": "found", "points": 7},
    )
    ingest.apply_enrichment(ingest.default_deps(), voyado)
    item = customer_item(stack.customers_table, MERCHANT, "C1")
    assert item is not None and item["points"] == Decimal(7)


def test_the_handler_and_its_sample_event(
    stack: Stack,
    vendor: OrderingStack,
    sandbox: OrderingStackSandbox,
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sandbox.add_account(account_id("M4E6D346F7257504B"), points=1)
    purchases(stack, "M4E6D346F7257504B", ["TM2024023171"])
    settings = wiring.vendor("orderingstack")[1]
    monkeypatch.setattr(wiring, "vendor", lambda _: (vendor, settings))
    event = load("orderingstack/sqs-change.json")
    assert vendors_app.orderingstack(event, lambda_context) == {"batchItemFailures": []}
    assert list(sandbox.events) == [event_id(MERCHANT, "TM2024023171")]


def test_bills_x_slash_1_and_x_underscore_1_are_two_events(
    stack: Stack, vendor: OrderingStack, sandbox: OrderingStackSandbox
) -> None:
    assert vendor.deliver(MERCHANT, [purchases(stack, "C1", ["X/1", "X_1"])]) == {}
    assert len(sandbox.events) == 2


def test_events_carry_only_documented_fields(
    stack: Stack, vendor: OrderingStack, sandbox: OrderingStackSandbox
) -> None:
    vendor.deliver(MERCHANT, [purchases(stack, "C1", ["B1"])])
    [event] = sandbox.events.values()
    assert set(event) == {"id", "account", "type", "ts"} and event["type"] in {
        "INVITED_BY",
        "INVITED",
        "FRIEND",
        "UNKNOWN",
    }


def test_a_bill_refunded_after_its_event_was_posted_is_counted_and_shown_not_reversed(
    stack: Stack, vendor: OrderingStack, sandbox: OrderingStackSandbox, enriched: list[EnrichmentUpdate], capsys: Any
) -> None:
    vendor.deliver(MERCHANT, [purchases(stack, "C1", ["B1"])])
    data = [bill("B1", "C1", "10", "2024-07-01T10:00:00+02:00", "2024-07-02T10:00:00Z", refunded=True)]
    ingest.ingest_delivery(ingest.default_deps(), archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", data))
    paths_before = len(sandbox.paths)
    vendor.deliver(MERCHANT, [VendorMessage(tenant_id=MERCHANT, customer_id="C1", bill_ids=["B1"])])
    assert [p for p in sandbox.paths[paths_before:] if "event" in p] == []  # no undocumented reversal call
    assert enriched[-1].data["withdrawn"] == ["B1"]
    assert '"WithdrawnAfterPost":[1.0]' in capsys.readouterr().out


@pytest.mark.parametrize("card", ["../../event?inject=1#frag", "a/b", "x", "c" * 65, "card with space"])
def test_a_card_outside_the_documented_pattern_is_refused_before_any_request(
    stack: Stack, vendor: OrderingStack, sandbox: OrderingStackSandbox, card: str
) -> None:
    data = [{"customerId": "C9", "cardNumber": card, "_lastModifiedAt": "2024-07-01T10:00:00Z"}]
    ingest.ingest_delivery(ingest.default_deps(), archive(stack.raw_bucket, MERCHANT, PLACE, "Loyalty", data))
    errors = vendor.deliver(MERCHANT, [VendorMessage(tenant_id=MERCHANT, customer_id="C9")])
    assert isinstance(errors[0], PermanentError) and card not in errors[0].reason
    assert not any("inject" in p or "card/" in p for p in sandbox.paths)
