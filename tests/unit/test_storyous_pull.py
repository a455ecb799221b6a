"""The scheduled Storyous pull against the Storyous sandbox: back-fill, incremental runs, resume after a
crash, 429s, token expiry, an empty place, tenant isolation and the time budget; then ingest of what it
queued gives the same customers a webhook would have."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest

from functions.storyous_pull import app as pull_app
from loyalty_hub import config
from loyalty_hub.config import IngestSettings, PullSettings
from loyalty_hub.dal.syncstate import CursorConflict, PullCursor, SyncStateStore
from loyalty_hub.logic import ingest, pull, pull_page
from loyalty_hub.models import structs
from loyalty_hub.models.datasync import DeliveryPointer
from loyalty_hub.models.tenant import Place
from loyalty_hub.remote import http
from loyalty_hub.storyous import api as storyous_api
from loyalty_hub.storyous.api import StoryousApi
from loyalty_hub_dev.sandboxes.storyous import StoryousSandbox
from tests.support.deliveries import archive, customer_item
from tests.support.doubles import FixedClock, LogCapture
from tests.support.events import load
from tests.support.stack import MERCHANT, OTHER_PLACE, PLACE, REGION, Stack, add_tenant
from tests.support.wsgi_transport import WsgiTransport, session_for

CLIENT = {"storyous_client_id": "hub-client", "storyous_client_secret": "hub-secret"}
NOW = datetime(2024, 7, 12, 8, 0, tzinfo=UTC)


@dataclass
class Monotonic:
    """The pull's clock and sleep: sleeping moves the clock, and every sleep is kept."""

    now: float = 100.0
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def storyous_bill(number: int, *, customer: str | None = "C1", modified: datetime | None = None) -> dict[str, Any]:
    paid = NOW - timedelta(days=10) + timedelta(minutes=number)
    return {
        "billId": f"B{number:04d}",
        "customerId": customer,
        "finalPrice": "100.00",
        "paidAt": paid.isoformat(),
        "createdAt": paid.isoformat(),
        "currencyCode": "CZK",
        "refunded": False,
        "_lastModifiedAt": (modified or paid).isoformat(),
        "items": [{"name": "Espresso", "amount": 1, "price": 100, "productId": "p:1", "categoryId": "c:coffee"}],
    }


@pytest.fixture
def sandbox() -> StoryousSandbox:
    sandbox = StoryousSandbox(client_id=CLIENT["storyous_client_id"], client_secret=CLIENT["storyous_client_secret"])
    sandbox.add_place(MERCHANT, PLACE)
    sandbox.add_place(MERCHANT, OTHER_PLACE)
    return sandbox


@pytest.fixture
def monotonic() -> Monotonic:
    return Monotonic()


@pytest.fixture
def make_deps(
    stack: Stack, sandbox: StoryousSandbox, monotonic: Monotonic, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., pull.PullDeps]:
    monkeypatch.setenv("STORYOUS_PAGE_SIZE", "20")
    storyous_api.reset_tokens()

    def make(now: FixedClock | None = None) -> pull.PullDeps:
        deps = pull.PullDeps.from_settings(config.load(PullSettings))
        deps.api = StoryousApi(
            deps.settings.STORYOUS_API_URL, deps.settings.STORYOUS_AUTH_URL, session=session_for(sandbox)
        )
        deps.now = now or FixedClock(NOW)
        deps.clock = monotonic
        deps.sleep = monotonic.sleep
        return deps

    return make


@pytest.fixture
def configured(stack: Stack) -> None:
    add_tenant(stack, secret={"storyous_webhook_secret": "w", **CLIENT})


def plenty() -> float:
    return 250.0


def queued(stack: Stack) -> list[DeliveryPointer]:
    sqs = boto3.client("sqs", region_name=REGION)
    pointers = []
    while messages := sqs.receive_message(QueueUrl=stack.ingest_queue_url, MaxNumberOfMessages=10).get("Messages"):
        for message in messages:
            pointers.append(structs.decode(DeliveryPointer, message["Body"]))
            sqs.delete_message(QueueUrl=stack.ingest_queue_url, ReceiptHandle=message["ReceiptHandle"])
    return pointers


def archived_bills(stack: Stack, pointers: list[DeliveryPointer]) -> list[dict[str, Any]]:
    s3 = boto3.client("s3", region_name=REGION)
    bills = []
    for pointer in pointers:
        envelope = json.loads(s3.get_object(Bucket=pointer.bucket, Key=pointer.key)["Body"].read())
        assert envelope["dataDomain"] == "Bills"
        assert envelope["source"] == "storyous-pull"
        bills.extend(envelope["data"])
    return bills


def ingest_all(pointers: list[DeliveryPointer]) -> None:
    deps = ingest.IngestDeps.from_settings(config.load(IngestSettings))
    for pointer in pointers:
        ingest.ingest_delivery(deps, pointer)


def cursor(stack: Stack, place: str = PLACE) -> PullCursor | None:
    return SyncStateStore(boto3.client("dynamodb", region_name=REGION), stack.sync_state_table).pull_cursor(
        MERCHANT, place
    )


# ------------------------------------------------------------------------------------------ back-fill
@pytest.mark.usefixtures("configured")
def test_the_first_run_back_fills_every_bill_once_with_items_for_customer_bills(
    stack: Stack, sandbox: StoryousSandbox, make_deps: Callable[..., pull.PullDeps]
) -> None:
    for n in range(45):
        sandbox.put_bill(MERCHANT, PLACE, storyous_bill(n, customer="C1" if n % 3 == 0 else None))

    report = pull.run(make_deps(), plenty)

    pointers = queued(stack)
    bills = archived_bills(stack, pointers)
    assert sorted(b["billId"] for b in bills) == [f"B{n:04d}" for n in range(45)]
    assert report.pages == 3 + 1  # 45 bills at 20 a page, and the empty other place
    assert report.deliveries == len(pointers) == 3
    assert report.bills_queued == 45 and report.completed == 2 and report.deferred == report.failed == 0
    # Only the 15 customer bills needed their detail (the list leaves items out).
    assert sandbox.detail_requests == report.details == 15
    assert all(("items" in b) == (b["customerId"] is not None) for b in bills)
    saved = cursor(stack)
    assert saved is not None and saved.next_page is None and saved.completed_at == NOW
    assert saved.since == NOW - timedelta(seconds=600)


@pytest.mark.usefixtures("configured")
def test_pulled_bills_reach_customers_like_a_webhook_delivery(
    stack: Stack, sandbox: StoryousSandbox, make_deps: Callable[..., pull.PullDeps]
) -> None:
    for n in range(5):
        sandbox.put_bill(MERCHANT, PLACE, storyous_bill(n))
    pull.run(make_deps(), plenty)
    ingest_all(queued(stack))

    customer = customer_item(stack.customers_table, MERCHANT, "C1")
    assert customer is not None
    assert customer["total_orders"] == 5
    assert customer["total_sales"] == Decimal("500")
    assert customer["category_ids"] == ["c:coffee"]  # from the details: the list has no items


@pytest.mark.usefixtures("configured")
def test_bills_the_webhook_already_delivered_are_not_queued_again(
    stack: Stack, sandbox: StoryousSandbox, make_deps: Callable[..., pull.PullDeps]
) -> None:
    bills = [storyous_bill(n) for n in range(6)]
    ingest_all([archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", bills[:4])])  # the webhook saw four
    for b in bills:
        sandbox.put_bill(MERCHANT, PLACE, b)

    report = pull.run(make_deps(), plenty)

    assert sorted(b["billId"] for b in archived_bills(stack, queued(stack))) == ["B0004", "B0005"]
    assert report.bills_seen == 6 and report.bills_queued == 2
    assert sandbox.detail_requests == 2  # no detail for what the hub already holds


@pytest.mark.usefixtures("configured")
def test_the_next_run_asks_only_for_what_changed_since_the_last_began(
    stack: Stack, sandbox: StoryousSandbox, make_deps: Callable[..., pull.PullDeps]
) -> None:
    for n in range(3):
        sandbox.put_bill(MERCHANT, PLACE, storyous_bill(n))
    pull.run(make_deps(), plenty)
    ingest_all(queued(stack))

    later = FixedClock(NOW + timedelta(minutes=15))
    refunded = storyous_bill(1, modified=NOW + timedelta(minutes=5)) | {"refunded": True}
    sandbox.put_bill(MERCHANT, PLACE, refunded)
    report = pull.run(make_deps(later), plenty)

    assert report.bills_seen == 1  # modifiedSince left the unchanged bills out
    pointers = queued(stack)
    assert [b["billId"] for b in archived_bills(stack, pointers)] == ["B0001"]
    ingest_all(pointers)
    customer = customer_item(stack.customers_table, MERCHANT, "C1")
    assert customer is not None and customer["total_orders"] == 2


# ------------------------------------------------------------------------------------------ resume after a crash
@pytest.mark.usefixtures("configured")
def test_a_run_that_dies_after_queueing_pages_resumes_at_the_next_page(
    stack: Stack, sandbox: StoryousSandbox, make_deps: Callable[..., pull.PullDeps], logs: LogCapture
) -> None:
    for n in range(50):
        sandbox.put_bill(MERCHANT, PLACE, storyous_bill(n, customer=None))
    deps = make_deps()
    sent = {"n": 0}

    def die_on_third_send(**_: Any) -> None:
        sent["n"] += 1
        if sent["n"] == 3:
            raise RuntimeError("the execution environment died")

    deps.sqs.meta.events.register("before-call.sqs.SendMessage", die_on_third_send)
    first = pull.run(deps, plenty)
    assert first.failed == 1 and first.deliveries == 2
    saved = cursor(stack)
    assert saved is not None and saved.next_page is not None and saved.completed_at is None
    assert any(line["level"] == "ERROR" and line.get("place") == PLACE for line in logs.lines())
    lists_before = sandbox.list_requests

    second = pull.run(make_deps(), plenty)

    assert second.pages == 1 + 1  # the third page only, and the empty other place
    assert sandbox.list_requests - lists_before == 2
    bills = archived_bills(stack, queued(stack))
    assert sorted(b["billId"] for b in bills) == [f"B{n:04d}" for n in range(50)]  # each once
    done = cursor(stack)
    assert done is not None and done.next_page is None and done.since == NOW - timedelta(seconds=600)


@pytest.mark.usefixtures("configured")
def test_a_page_queued_but_not_yet_recorded_is_read_again_and_the_repeat_is_harmless(
    stack: Stack, sandbox: StoryousSandbox, make_deps: Callable[..., pull.PullDeps]
) -> None:
    for n in range(30):
        sandbox.put_bill(MERCHANT, PLACE, storyous_bill(n))
    deps = make_deps()
    saves = {"n": 0}

    def die_on_second_cursor_save(params: dict[str, Any], **_: Any) -> None:
        if params["TableName"] == stack.sync_state_table and params["Item"]["pk"]["S"].endswith(PLACE):
            saves["n"] += 1
            if saves["n"] == 2:
                raise RuntimeError("killed between the send and the cursor")

    deps.cursors._client.meta.events.register("before-parameter-build.dynamodb.PutItem", die_on_second_cursor_save)
    first = pull.run(deps, plenty)
    second = pull.run(make_deps(), plenty)

    assert first.bills_queued == 30 and second.bills_queued == 10  # page 2 was read and sent again
    pointers = queued(stack)
    ids = [b["billId"] for b in archived_bills(stack, pointers)]
    # The same page archives to the same content-addressed key, so the FIFO queue dropped the repeat.
    assert sorted(ids) == [f"B{n:04d}" for n in range(30)]
    ingest_all([*pointers, pointers[-1]])  # and ingest absorbs one that got through anyway
    customer = customer_item(stack.customers_table, MERCHANT, "C1")
    assert customer is not None and customer["total_orders"] == 30  # the repeat counted once


# ------------------------------------------------------------------------------------------ 429, tokens, budget
@pytest.mark.usefixtures("configured")
def test_a_429_delays_that_place_by_its_retry_after_and_the_run_still_completes(
    stack: Stack, sandbox: StoryousSandbox, make_deps: Callable[..., pull.PullDeps], monotonic: Monotonic
) -> None:
    sandbox.put_bill(MERCHANT, PLACE, storyous_bill(1))
    sandbox.put_bill(MERCHANT, OTHER_PLACE, storyous_bill(2))
    sandbox.throttle_next(1, retry_after=3)

    report = pull.run(make_deps(), plenty)

    assert sandbox.throttled == 1
    assert monotonic.slept == [pytest.approx(3.0)]
    assert report.completed == 2 and report.deferred == 0 and report.bills_queued == 2


@pytest.mark.usefixtures("configured")
def test_a_long_retry_after_leaves_the_place_for_the_next_run_with_its_cursor_untouched(
    stack: Stack, sandbox: StoryousSandbox, make_deps: Callable[..., pull.PullDeps], monotonic: Monotonic
) -> None:
    sandbox.put_bill(MERCHANT, PLACE, storyous_bill(1))
    deps = make_deps()
    deps.api.bills(*_client_and_source(), modified_since=NOW, limit=1)  # a token in the cache
    sandbox.throttle_next(1, retry_after=600)

    report = pull.run(deps, plenty)

    assert report.deferred == 1 and report.completed == 1  # the other place went ahead
    assert monotonic.slept == []
    assert cursor(stack, PLACE) is None  # nothing was recorded for the throttled place
    assert cursor(stack, OTHER_PLACE) is not None


def _client_and_source() -> tuple[storyous_api.Credentials, str, str]:
    return storyous_api.Credentials(CLIENT["storyous_client_id"], CLIENT["storyous_client_secret"]), MERCHANT, PLACE


@pytest.mark.usefixtures("configured")
def test_persistent_5xx_gives_up_on_the_place_after_three_attempts(
    stack: Stack, sandbox: StoryousSandbox, make_deps: Callable[..., pull.PullDeps], monotonic: Monotonic
) -> None:
    deps = make_deps()
    hits: list[str] = []

    def unavailable_for_one_place(environ: dict[str, Any], start_response: Any) -> Any:
        if environ["PATH_INFO"].startswith(f"/bills/{MERCHANT}-{PLACE}"):
            hits.append(environ["PATH_INFO"])
            start_response("503 Service Unavailable", [("Content-Type", "application/json")])
            return [b'{"error": "unavailable"}']
        return sandbox(environ, start_response)

    deps.api = StoryousApi(
        deps.settings.STORYOUS_API_URL,
        deps.settings.STORYOUS_AUTH_URL,
        session=session_for(unavailable_for_one_place),
    )

    report = pull.run(deps, plenty)

    assert len(hits) == pull_page.MAX_PAGE_ATTEMPTS
    assert report.deferred == 1 and report.completed == 1 and report.failed == 0
    assert cursor(stack, PLACE) is None


@pytest.mark.usefixtures("configured")
def test_an_expired_token_is_renewed_once_and_a_fresh_one_is_reused(
    sandbox: StoryousSandbox, make_deps: Callable[..., pull.PullDeps]
) -> None:
    pull.run(make_deps(), plenty)
    pull.run(make_deps(), plenty)
    assert sandbox.token_requests == 1  # cached across runs of a warm environment

    sandbox.expire_tokens()
    report = pull.run(make_deps(), plenty)

    assert sandbox.unauthorized == 1 and sandbox.token_requests == 2
    assert report.completed == 2 and report.failed == 0


def test_a_token_is_renewed_a_minute_before_its_expires_at_without_a_401() -> None:
    wall = {"now": 1_800_000_000.0}
    sandbox = StoryousSandbox(client_id="c", client_secret="s", token_ttl_seconds=3600, clock=lambda: wall["now"])
    sandbox.add_place(MERCHANT, PLACE)
    client = StoryousApi("https://api.storyous.com", "https://login.storyous.com/api/auth/authorize",
                         session=session_for(sandbox), clock=lambda: wall["now"])  # fmt: skip
    credentials = storyous_api.Credentials("c", "s")
    storyous_api.reset_tokens()

    client.bills(credentials, MERCHANT, PLACE, modified_since=NOW, limit=5)
    wall["now"] += 3600 - 61
    client.bills(credentials, MERCHANT, PLACE, modified_since=NOW, limit=5)
    assert sandbox.token_requests == 1
    wall["now"] += 2  # 59 s before expires_at
    client.bills(credentials, MERCHANT, PLACE, modified_since=NOW, limit=5)

    assert sandbox.token_requests == 2 and sandbox.unauthorized == 0


@pytest.mark.usefixtures("configured")
def test_when_time_runs_short_the_run_stops_and_the_next_continues(
    stack: Stack, sandbox: StoryousSandbox, make_deps: Callable[..., pull.PullDeps]
) -> None:
    for n in range(60):
        sandbox.put_bill(MERCHANT, PLACE, storyous_bill(n, customer=None))
    budget = iter([250.0, 250.0, 250.0, 250.0, 10.0])  # then below the 30 s margin for good

    first = pull.run(make_deps(), lambda: next(budget, 10.0))

    assert first.pages == 2 and first.deferred >= 1
    second = pull.run(make_deps(), plenty)
    assert second.completed == 2
    bills = archived_bills(stack, queued(stack))
    assert sorted(b["billId"] for b in bills) == [f"B{n:04d}" for n in range(60)]


# ------------------------------------------------------------------------------------------ places and tenants
@pytest.mark.usefixtures("configured")
def test_an_empty_place_queues_nothing_and_moves_its_cursor(
    stack: Stack, sandbox: StoryousSandbox, make_deps: Callable[..., pull.PullDeps]
) -> None:
    report = pull.run(make_deps(), plenty)

    assert report.completed == 2 and report.deliveries == 0 and queued(stack) == []
    for place in (PLACE, OTHER_PLACE):
        saved = cursor(stack, place)
        assert saved is not None and saved.completed_at == NOW


def test_a_refused_client_stops_that_tenant_only(
    stack: Stack, sandbox: StoryousSandbox, make_deps: Callable[..., pull.PullDeps], logs: LogCapture
) -> None:
    add_tenant(stack, secret={"storyous_webhook_secret": "w", **CLIENT})
    other = "60b6512e66943300381c2d99"
    add_tenant(
        stack,
        other,
        places={"p1": Place(name="one"), "p2": Place(name="two")},
        secret={"storyous_client_id": "revoked", "storyous_client_secret": "x"},
    )
    sandbox.put_bill(MERCHANT, PLACE, storyous_bill(1))

    report = pull.run(make_deps(), plenty)

    assert report.failed == 2 and report.completed == 2 and report.bills_queued == 1
    errors = [line for line in logs.lines() if line["level"] == "ERROR"]
    assert len(errors) == 1 and errors[0]["tenant"] == other and "set-storyous-client" in errors[0]["message"]


@pytest.mark.usefixtures("configured")
def test_a_tenant_item_that_does_not_read_is_skipped_with_an_error_line_and_the_others_pulled(
    stack: Stack, sandbox: StoryousSandbox, make_deps: Callable[..., pull.PullDeps], logs: LogCapture
) -> None:
    boto3.client("dynamodb", region_name=REGION).put_item(
        TableName=stack.tenants_table, Item={"tenant_id": {"S": "hand-edited"}, "places": {"S": "p1"}}
    )
    sandbox.put_bill(MERCHANT, PLACE, storyous_bill(1))
    report = pull.run(make_deps(), plenty)
    assert report.bills_queued == 1 and report.completed == 2
    [error] = [line for line in logs.lines() if line["level"] == "ERROR"]
    assert error["tenants"] == {"hand-edited": "places: Expected `object`, got `str`"}


def test_a_tenant_without_an_api_client_is_skipped(
    stack: Stack, make_deps: Callable[..., pull.PullDeps], sandbox: StoryousSandbox
) -> None:
    add_tenant(stack)  # only a webhook secret
    report = pull.run(make_deps(), plenty)
    assert report.not_configured == 1 and report.places == 0 and sandbox.token_requests == 0


@pytest.mark.usefixtures("configured")
def test_a_place_storyous_does_not_know_fails_alone_and_says_what_to_check(
    stack: Stack, make_deps: Callable[..., pull.PullDeps], logs: LogCapture
) -> None:
    unknown = StoryousSandbox(client_id=CLIENT["storyous_client_id"], client_secret=CLIENT["storyous_client_secret"])
    unknown.add_place(MERCHANT, PLACE)  # OTHER_PLACE is not Storyous's
    deps = make_deps()
    deps.api = StoryousApi(
        deps.settings.STORYOUS_API_URL, deps.settings.STORYOUS_AUTH_URL, session=session_for(unknown)
    )

    report = pull.run(deps, plenty)

    assert report.failed == 1 and report.completed == 1
    [error] = [line for line in logs.lines() if line["level"] == "ERROR"]
    assert error["place"] == OTHER_PLACE and error["status"] == 404


def test_an_overlapping_run_cannot_move_a_cursor_it_did_not_read(stack: Stack) -> None:
    store = SyncStateStore(boto3.client("dynamodb", region_name=REGION), stack.sync_state_table)
    fresh = PullCursor(MERCHANT, PLACE, since=NOW)
    mine = store.save_pull_cursor(fresh)
    store.save_pull_cursor(mine)  # the other run moved it
    with pytest.raises(CursorConflict):
        store.save_pull_cursor(mine)
    with pytest.raises(CursorConflict):
        store.save_pull_cursor(fresh)


# ------------------------------------------------------------------------------------------ handler
@pytest.mark.usefixtures("configured")
def test_the_scheduled_event_runs_the_pull(
    stack: Stack, sandbox: StoryousSandbox, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PULL_TIME_MARGIN_SECONDS", "5")
    storyous_api.reset_tokens()
    monkeypatch.setitem(http._pools, "storyous", WsgiTransport(sandbox))
    sandbox.put_bill(MERCHANT, PLACE, storyous_bill(1, modified=datetime.now(UTC) - timedelta(days=1)))

    answer = pull_app.lambda_handler(load("storyous_pull/schedule.json"), lambda_context)

    assert answer["completed"] == 2 and answer["bills_queued"] == 1
    one = pull_app.lambda_handler(load("storyous_pull/one-tenant.json"), lambda_context)
    assert one["tenants"] == 1 and one["bills_queued"] == 0


def test_an_unknown_tenant_in_the_schedule_input_is_an_error_line_not_a_crash(
    stack: Stack, make_deps: Callable[..., pull.PullDeps], logs: LogCapture
) -> None:
    report = pull.run(make_deps(), plenty, tenant_id="nobody")
    assert report.places == 0
    [error] = [line for line in logs.lines() if line["level"] == "ERROR"]
    assert error["tenant"] == "nobody" and "no such tenant" in error["message"]


@pytest.mark.usefixtures("configured")
@pytest.mark.filterwarnings("ignore:No application metrics")  # the invocation fails before any is added
def test_a_malformed_schedule_input_fails_the_invocation_before_any_request(
    sandbox: StoryousSandbox, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(http._pools, "storyous", WsgiTransport(sandbox))
    with pytest.raises(structs.Invalid, match="tenant_id"):
        pull_app.lambda_handler({"job": "storyous-pull", "tenant_id": "bad/id"}, lambda_context)
    assert sandbox.token_requests == sandbox.list_requests == 0
