"""Voyado: the shared token bucket, lookups against a sandbox bridge, enrichment back through ingest,
and no feedback loop from enrichment to lookup."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
from werkzeug.wrappers import Response

from functions.capture import app as capture_app
from functions.ingest import app as ingest_app
from functions.vendors import app as vendors_app
from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.ratelimit import TokenBucket
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.logic import ingest
from loyalty_hub.models import structs
from loyalty_hub.models.enrichment import EnrichmentUpdate
from loyalty_hub.models.tenant import Place, Tenant
from loyalty_hub.models.vendor_message import VendorMessage
from loyalty_hub.models.vendors import CustobarSettings, Vendors, VoyadoSettings
from loyalty_hub.remote.errors import AUTH_RETRY_SECONDS, PermanentError, RetryableError
from loyalty_hub.rules.lookups import lookup_identity, wants_lookup
from loyalty_hub.rules.timestamps import format_timestamp
from loyalty_hub.vendors import wiring
from loyalty_hub.vendors.voyado import Voyado, shop_bucket
from loyalty_hub_dev.sandboxes.voyado import VoyadoSandbox, promotion
from tests.support.deliveries import archive, bill, customer_item
from tests.support.events import load, sqs_event
from tests.support.stack import MERCHANT, PLACE, REGION, Stack, add_tenant
from tests.support.streams import stream_event
from tests.support.wsgi_transport import session_for

KEY = "voyado-key"
SETTINGS = VoyadoSettings(base_url="https://live.voyado.eastsideapps.io")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------------------------------ token bucket
def test_the_bucket_gives_its_capacity_then_one_token_per_refill(stack: Stack) -> None:
    clock = Clock()
    client = boto3.client("dynamodb", region_name=REGION)
    bucket = TokenBucket(client, stack.rate_limit_table, "voyado#t", capacity=60, refill_per_second=1, clock=clock)
    assert [bucket.take() for _ in range(60)] == [0.0] * 60
    assert bucket.take() == pytest.approx(1.0)
    clock.now += 0.5
    assert bucket.take() == pytest.approx(0.5)
    clock.now += 0.5
    assert bucket.take() == 0.0


def test_two_invocations_share_one_bucket(stack: Stack) -> None:
    clock = Clock()
    client = boto3.client("dynamodb", region_name=REGION)
    buckets = [
        TokenBucket(client, stack.rate_limit_table, "voyado#shared", capacity=10, refill_per_second=1, clock=clock)
        for _ in range(2)
    ]
    taken = sum(1 for i in range(30) if buckets[i % 2].take() == 0.0)
    assert taken == 10


def test_a_lost_race_counts_again_instead_of_spending_a_token_twice(stack: Stack) -> None:
    clock = Clock()
    client = boto3.client("dynamodb", region_name=REGION)
    bucket = TokenBucket(client, stack.rate_limit_table, "voyado#race", capacity=5, refill_per_second=1, clock=clock)
    bucket.take()
    other = TokenBucket(client, stack.rate_limit_table, "voyado#race", capacity=5, refill_per_second=1, clock=clock)
    raced = {"done": False}

    def interleave(**_: Any) -> None:  # another invocation takes a token between our read and our write
        if not raced["done"]:
            raced["done"] = True
            clock.now += 0.001
            other.take()

    client.meta.events.register("before-call.dynamodb.PutItem", interleave)
    assert bucket.take() == 0.0
    stored = client.get_item(TableName=stack.rate_limit_table, Key={"pk": {"S": "voyado#race"}})["Item"]
    assert float(stored["tokens"]["N"]) == pytest.approx(2.0, abs=0.01)  # 5 - 3 taken


@pytest.mark.parametrize("legacy", [False, True], ids=["revisioned", "written-before-revisions"])
def test_a_caller_whose_clock_is_behind_cannot_spend_the_token_another_took(stack: Stack, legacy: bool) -> None:
    """Its count keeps the stored timestamp (never back in time); the revision still tells the race."""
    client = boto3.client("dynamodb", region_name=REGION)
    item = {"pk": {"S": "voyado#skew"}, "tokens": {"N": "1.5"}, "at": {"N": "1000"}}
    client.put_item(TableName=stack.rate_limit_table, Item=item if legacy else {**item, "rev": {"N": "7"}})
    ahead = Clock()
    ahead.now = 1000.0
    behind = Clock()
    behind.now = 990.0  # ten seconds behind the stored count
    first = TokenBucket(client, stack.rate_limit_table, "voyado#skew", capacity=5, refill_per_second=0.01, clock=ahead)
    late = TokenBucket(client, stack.rate_limit_table, "voyado#skew", capacity=5, refill_per_second=0.01, clock=behind)
    raced = {"done": False}

    def interleave(**_: Any) -> None:  # the late caller takes the one token between our read and our write
        if not raced["done"]:
            raced["done"] = True
            assert late.take() == 0.0

    client.meta.events.register("before-call.dynamodb.PutItem", interleave)
    taken = first.take()
    assert taken > 0  # one token, one taker: ours was refused and counted again, finding none
    stored = client.get_item(TableName=stack.rate_limit_table, Key={"pk": {"S": "voyado#skew"}})["Item"]
    assert float(stored["tokens"]["N"]) == pytest.approx(0.5)


# ------------------------------------------------------------------------------------------ lookups
@pytest.fixture
def sandbox() -> VoyadoSandbox:
    sandbox = VoyadoSandbox(api_key=KEY)
    sandbox.add_contact(
        "alena@example.cz",
        bonus_points=322,
        member_level="Gold",
        promotions=[promotion("10 % off coffee")],
        sync_failed=[{**promotion("External offer"), "error": "DiscountCodeNotFoundInShopify"}],
    )
    return sandbox


@pytest.fixture
def enriched() -> list[EnrichmentUpdate]:
    return []


@pytest.fixture
def voyado(stack: Stack, sandbox: VoyadoSandbox, enriched: list[EnrichmentUpdate]) -> Iterator[Voyado]:
    add_tenant(stack)
    client = boto3.client("dynamodb", region_name=REGION)
    store = TenantStore(stack.tenants_table, client=client, cache_seconds=0)
    vendors = Vendors(voyado=SETTINGS, custobar=CustobarSettings(base_url="https://a.custobar.com", field_prefix="a"))
    store.put(Tenant(tenant_id=MERCHANT, name="Café", places={PLACE: Place()}, vendors=vendors))
    clock = Clock()
    yield Voyado(
        store,
        CustomerStore(client, stack.customers_table),
        lambda tenant, shop: shop_bucket(client, stack.rate_limit_table, tenant, shop, clock=clock),
        enriched.append,
        lambda _: {"voyado_api_key": KEY},
        session=session_for(sandbox),
        now=lambda: datetime(2024, 7, 12, 9, tzinfo=UTC),
    )


def loyalty(stack: Stack, customer_id: str, email: str | None, modified: str = "2024-07-01T10:00:00Z") -> None:
    data = [
        {
            "customerId": customer_id,
            "email": email,
            "firstName": "Alena",
            "points": 5,
            "_lastModifiedAt": modified,
        }
    ]
    ingest.ingest_delivery(ingest.default_deps(), archive(stack.raw_bucket, MERCHANT, PLACE, "Loyalty", data))


def test_a_found_contact_enriches_the_customer_and_voyado_points_win(
    stack: Stack, voyado: Voyado, enriched: list[EnrichmentUpdate], lambda_context: Any
) -> None:
    loyalty(stack, "C1", "Alena@Example.CZ")
    assert voyado.deliver(MERCHANT, [VendorMessage(tenant_id=MERCHANT, customer_id="C1")]) == {}
    [update] = enriched
    assert update.data["status"] == "found" and update.data["points"] == 322 and update.data["member_level"] == "Gold"
    assert update.data["identity"] == {"email": "alena@example.cz"}
    assert update.data["promotions"] == [{"name": "10 % off coffee", "expires_on": None, "redeemed": False}]
    # documented shape (doc L84-143): a promotion the bridge could not sync is kept apart, with its code
    assert update.data["sync_failed_promotions"] == [
        {"name": "External offer", "error": "DiscountCodeNotFoundInShopify"}
    ]
    # the update travels through the ingest queue like any delivery
    assert ingest_app.lambda_handler(sqs_event([structs.to_json(update)]), lambda_context) == {"batchItemFailures": []}
    item = customer_item(stack.customers_table, MERCHANT, "C1")
    assert item is not None and item["points"] == Decimal(322)  # Voyado over Storyous loyalty (5)


def test_a_known_contact_is_looked_up_by_its_id_only(stack: Stack) -> None:
    item = {"email": "a@b.c", "enrichment": {"voyado": {"contact_id": "4c4a3056-e3bf-3a3a-9bff-39d436ce65c4"}}}
    assert lookup_identity(item) == {"voyado_contact_id": "4c4a3056-e3bf-3a3a-9bff-39d436ce65c4"}
    assert lookup_identity({"email": "a@b.c"}) == {"email": "a@b.c"}
    assert lookup_identity({"first_name": "x"}) is None


def test_not_in_voyado_is_remembered_not_retried(
    stack: Stack, voyado: Voyado, enriched: list[EnrichmentUpdate]
) -> None:
    loyalty(stack, "C2", "nobody@example.cz")
    assert voyado.deliver(MERCHANT, [VendorMessage(tenant_id=MERCHANT, customer_id="C2")]) == {}
    assert enriched[0].data == {"status": "not_found", "identity": {"email": "nobody@example.cz"}, "misses": 1}


def _asked(identity: dict[str, str], status: str, hours_ago: float, misses: int = 1) -> dict[str, Any]:
    observed = datetime(2024, 7, 12, 9, tzinfo=UTC) - timedelta(hours=hours_ago)
    voyado = {"status": status, "identity": identity, "observed": format_timestamp(observed), "misses": misses}
    return {"email": identity.get("email"), "enrichment": {"voyado": voyado}}


@pytest.mark.parametrize(
    ("item", "asked"),
    [
        ({"email": "a@example.cz"}, True),  # never asked
        ({"first_name": "Jana"}, False),  # nothing to ask by
        (_asked({"email": "a@example.cz"}, "not_found", 23), False),  # first 404: a day's backoff
        (_asked({"email": "a@example.cz"}, "not_found", 25), True),
        (_asked({"email": "a@example.cz"}, "not_found", 25, misses=2), False),  # later 404s: a week
        (_asked({"email": "a@example.cz"}, "not_found", 24 * 7 + 1, misses=3), True),
        ({**_asked({"email": "old@example.cz"}, "not_found", 1), "email": "new@example.cz"}, True),  # new email
        (_asked({"email": "a@example.cz"}, "found", 24), False),  # found: the refresh age (168 h)
        (_asked({"email": "a@example.cz"}, "found", 169), True),
    ],
)
def test_voyado_is_asked_only_when_its_answer_can_be_new(item: dict[str, Any], asked: bool) -> None:
    assert wants_lookup(item, datetime(2024, 7, 12, 9, tzinfo=UTC)) is asked


def test_a_repeat_change_does_not_ask_again_but_a_new_email_does(
    stack: Stack, voyado: Voyado, sandbox: VoyadoSandbox, enriched: list[EnrichmentUpdate]
) -> None:
    loyalty(stack, "C2", "nobody@example.cz")
    message = VendorMessage(tenant_id=MERCHANT, customer_id="C2")
    voyado.deliver(MERCHANT, [message])
    ingest.apply_enrichment(ingest.default_deps(), enriched[0])
    voyado.deliver(MERCHANT, [message, message])  # a bill-only change, a duplicate: nothing to ask
    assert sandbox.accepted == 1
    loyalty(stack, "C2", "alena@example.cz", modified="2024-07-02T10:00:00Z")
    voyado.deliver(MERCHANT, [message])
    assert sandbox.accepted == 2 and enriched[-1].data["status"] == "found"


def test_customers_without_an_identifier_are_not_looked_up(
    stack: Stack, voyado: Voyado, sandbox: VoyadoSandbox, enriched: list[EnrichmentUpdate]
) -> None:
    loyalty(stack, "C3", None)
    assert voyado.deliver(MERCHANT, [VendorMessage(tenant_id=MERCHANT, customer_id="C3")]) == {}
    assert enriched == [] and sandbox.accepted == 0


@pytest.mark.parametrize(
    ("answer", "error", "status"),
    [
        ("422", PermanentError, 422),
        ("409", PermanentError, 409),
        ("401", RetryableError, 401),
        ("429", RetryableError, 429),
        ("500", RetryableError, 500),
    ],
)
def test_each_failure_gets_its_fate(
    stack: Stack,
    voyado: Voyado,
    sandbox: VoyadoSandbox,
    answer: str,
    error: type,
    status: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loyalty(stack, "C1", "alena@example.cz")
    bodies = {  # as the document shows them (L146-221)
        "422": {"message": "The email must be a valid email address.", "errors": {"email": ["x"]}},
        "409": {"message": "MultipleMatches"},
        "401": {"message": "Unauthorized"},
        "429": {"message": "TooManyRequests"},
        "500": {"message": "UnexpectedError"},
    }
    monkeypatch.setattr(
        sandbox,
        "_answer",
        lambda _: Response(json.dumps(bodies[answer]), status=int(answer), content_type="application/json"),
    )
    errors = voyado.deliver(MERCHANT, [VendorMessage(tenant_id=MERCHANT, customer_id="C1")])
    assert isinstance(errors[0], error) and errors[0].status == status
    assert "alena" not in errors[0].reason and "http" not in errors[0].reason  # no value, no URL
    if status == 401:
        assert isinstance(errors[0], RetryableError) and errors[0].retry_after == AUTH_RETRY_SECONDS


def test_an_empty_bucket_delays_the_message_instead_of_calling(
    stack: Stack, voyado: Voyado, sandbox: VoyadoSandbox
) -> None:
    loyalty(stack, "C1", "alena@example.cz")
    client = boto3.client("dynamodb", region_name=REGION)
    client.put_item(
        TableName=stack.rate_limit_table,
        Item={"pk": {"S": f"voyado#{MERCHANT}"}, "tokens": {"N": "-5"}, "at": {"N": "1000"}},
    )
    errors = voyado.deliver(MERCHANT, [VendorMessage(tenant_id=MERCHANT, customer_id="C1")])
    assert isinstance(errors[0], RetryableError) and errors[0].retry_after == pytest.approx(6.0)
    assert sandbox.accepted == 0 and sandbox.throttled == 0


def test_enrichment_never_triggers_the_lookup_that_produced_it(
    stack: Stack, voyado: Voyado, enriched: list[EnrichmentUpdate], lambda_context: Any
) -> None:
    loyalty(stack, "C1", "alena@example.cz")
    voyado.deliver(MERCHANT, [VendorMessage(tenant_id=MERCHANT, customer_id="C1")])
    # WHEN the enrichment is applied: points change on the customer, and the stream reports it
    event = stream_event(stack.customers_table, lambda: ingest.apply_enrichment(ingest.default_deps(), enriched[0]))
    assert len(event["Records"]) == 1
    capture_app.lambda_handler(event, lambda_context)
    # THEN Custobar hears about the new points, Voyado does not
    sqs = boto3.client("sqs", region_name=REGION)
    for url, expected in ((stack.custobar_queue_url, 1), (stack.voyado_queue_url, 0)):
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        assert len(messages) == expected, url


def test_enrichment_for_a_customer_we_do_not_have_is_ignored(stack: Stack, voyado: Voyado) -> None:
    update = EnrichmentUpdate(
        tenant_id=MERCHANT,
        customer_id="ghost",
        vendor="voyado",
        observed_at=datetime(2024, 7, 12, tzinfo=UTC),
        data={"status": "found", "points": 1},
    )
    assert ingest.apply_enrichment(ingest.default_deps(), update) is False
    assert customer_item(stack.customers_table, MERCHANT, "ghost") is None


def test_an_older_enrichment_never_replaces_a_newer_one(stack: Stack, voyado: Voyado) -> None:
    ingest.ingest_delivery(
        ingest.default_deps(),
        archive(
            stack.raw_bucket,
            MERCHANT,
            PLACE,
            "Bills",
            [bill("B1", "C1", "10", "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01Z")],
        ),
    )
    newer = EnrichmentUpdate(
        tenant_id=MERCHANT,
        customer_id="C1",
        vendor="voyado",
        observed_at=datetime(2024, 7, 12, 10, tzinfo=UTC),
        data={"status": "found", "points": 50},
    )
    older = structs.replace(newer, observed_at=datetime(2024, 7, 12, 9, tzinfo=UTC), data={"points": 7})
    ingest.apply_enrichment(ingest.default_deps(), newer)
    ingest.apply_enrichment(ingest.default_deps(), older)
    item = customer_item(stack.customers_table, MERCHANT, "C1")
    assert item is not None and item["points"] == Decimal(50)


def test_the_handler_and_its_sample_event(
    stack: Stack, voyado: Voyado, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    loyalty(stack, "M4E6D346F7257504B", "alena@example.cz")
    settings = wiring.vendor("voyado")[1]
    monkeypatch.setattr(wiring, "vendor", lambda _: (voyado, settings))
    assert vendors_app.voyado(load("voyado/sqs-change.json"), lambda_context) == {"batchItemFailures": []}
