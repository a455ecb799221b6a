"""Invariant: whatever faults hit the scheduled Storyous pull (429s short and long, a death after a page
was queued, a death before its cursor was saved, a run out of time), and however bills change between
runs, once runs go clean again the hub holds every bill Storyous holds, at its latest version.

Between runs the clock moves on and bills are added or modified, possibly while a run is halfway
through its `nextPage` chain: the cursor must never step over them.
"""

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty_hub import config
from loyalty_hub.config import IngestSettings, PullSettings
from loyalty_hub.dal.entities import EntityStore
from loyalty_hub.dal.syncstate import SyncStateStore
from loyalty_hub.logic import ingest, pull
from loyalty_hub.models import structs
from loyalty_hub.models.datasync import DeliveryPointer
from loyalty_hub.models.tenant import Place
from loyalty_hub.rules.timestamps import format_timestamp
from loyalty_hub.storyous.api import StoryousApi
from loyalty_hub_dev.sandboxes.storyous import StoryousSandbox
from tests.support.stack import REGION, Stack, add_tenant
from tests.support.wsgi_transport import session_for

PLACES = ("P1", "P2")
START = datetime(2024, 7, 12, 8, 0, tzinfo=UTC)
_examples = itertools.count()


class Died(Exception):
    """The execution environment went away mid-run."""


@dataclass(frozen=True)
class Fault:
    kind: str  # none | throttle | die_on_send | die_on_save | out_of_time
    at: int  # which request, send, save or budget check it hits
    retry_after: int = 1


faults = st.builds(
    Fault,
    kind=st.sampled_from(["none", "throttle", "die_on_send", "die_on_save", "out_of_time"]),
    at=st.integers(1, 6),
    retry_after=st.sampled_from([1, 2, 600]),
)
changes = st.lists(  # between runs: (bill number, place) added or modified
    st.tuples(st.integers(0, 15), st.sampled_from(PLACES)), max_size=12
)


@dataclass
class Monotonic:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Storyous:
    """The sandbox and, beside it, what it holds: the truth the hub must end up with."""

    sandbox: StoryousSandbox
    merchant: str
    bills: dict[str, dict[str, Any]] = field(default_factory=dict)

    def change(self, number: int, place: str, at: datetime) -> None:
        bill_id = f"{place}-B{number:03d}"
        price = int(self.bills.get(bill_id, {}).get("finalPrice", 0)) + 10
        paid = START - timedelta(days=5) + timedelta(minutes=number)
        bill = {
            "billId": bill_id,
            "customerId": f"C{number % 4}" if number % 3 else None,
            "finalPrice": str(price),
            "paidAt": paid.isoformat(),
            "createdAt": paid.isoformat(),
            "currencyCode": "CZK",
            "_lastModifiedAt": at.isoformat(),
            "items": [{"name": "x", "amount": 1, "price": price, "productId": "p", "categoryId": "c:1"}],
        }
        self.bills[bill_id] = bill
        self.sandbox.put_bill(self.merchant, place, bill)


def budget(fault: Fault) -> Callable[[], float]:
    checks = itertools.count(1)
    if fault.kind != "out_of_time":
        return lambda: 250.0
    return lambda: 250.0 if next(checks) <= fault.at else 1.0


def run_once(stack: Stack, storyous: Storyous, fault: Fault, now: datetime, clock: Monotonic) -> None:
    """One scheduled run with `fault`, then ingest of whatever it queued (as the ingest function would)."""
    sqs = boto3.client("sqs", region_name=REGION)  # fresh clients: a fault's hook must not outlive its run
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    counter = itertools.count(1)
    if fault.kind == "die_on_send":
        sqs.meta.events.register(
            "before-call.sqs.SendMessage", lambda **_: _die() if next(counter) == fault.at else None
        )
    if fault.kind == "die_on_save":
        dynamodb.meta.events.register(
            "before-call.dynamodb.PutItem", lambda **_: _die() if next(counter) == fault.at else None
        )
    if fault.kind == "throttle":
        storyous.sandbox.throttle_next(fault.at, fault.retry_after)
    deps = replace(
        pull.PullDeps.from_settings(config.load(PullSettings)),
        api=StoryousApi(
            "https://api.storyous.com",
            "https://login.storyous.com/api/auth/authorize",
            session=session_for(storyous.sandbox),
        ),
        sqs=sqs,
        cursors=SyncStateStore(dynamodb, stack.sync_state_table),
        now=lambda: now,
        clock=clock,
        sleep=clock.sleep,
    )
    pull.run(deps, budget(fault), tenant_id=storyous.merchant)
    storyous.sandbox.throttle_next(0)
    deliver_to_ingest(stack)


def _die() -> None:
    raise Died


def deliver_to_ingest(stack: Stack) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    deps = ingest.IngestDeps.from_settings(config.load(IngestSettings))
    while messages := sqs.receive_message(QueueUrl=stack.ingest_queue_url, MaxNumberOfMessages=10).get("Messages"):
        for message in messages:
            ingest.ingest_delivery(deps, structs.decode(DeliveryPointer, message["Body"]))
            sqs.delete_message(QueueUrl=stack.ingest_queue_url, ReceiptHandle=message["ReceiptHandle"])


def moments(start: datetime, step: timedelta) -> Iterator[datetime]:
    moment = start
    while True:
        yield moment
        moment += step


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    initial=st.lists(st.tuples(st.integers(0, 15), st.sampled_from(PLACES)), max_size=30),
    runs=st.lists(st.tuples(faults, changes), min_size=1, max_size=5),
    page_size=st.sampled_from([3, 7, 20]),
)
def test_after_any_faults_a_clean_run_leaves_the_hub_holding_every_bill_at_its_latest_version(
    stack: Stack,
    monkeypatch: Any,
    initial: list[tuple[int, str]],
    runs: list[tuple[Fault, list[tuple[int, str]]]],
    page_size: int,
) -> None:
    example = next(_examples)
    merchant, client = f"prop-pull-{example}", f"client-{example}"
    monkeypatch.setenv("STORYOUS_PAGE_SIZE", str(page_size))
    config.load.cache_clear()
    add_tenant(
        stack,
        merchant,
        places={p: Place(name=p) for p in PLACES},
        secret={"storyous_client_id": client, "storyous_client_secret": "s"},
    )
    storyous = Storyous(StoryousSandbox(client_id=client, client_secret="s"), merchant)
    for place in PLACES:
        storyous.sandbox.add_place(merchant, place)
    clock = Monotonic()
    times = moments(START - timedelta(days=1), timedelta(seconds=7))
    for number, place in initial:
        storyous.change(number, place, next(times))

    now = START
    for fault, between in runs:
        run_once(stack, storyous, fault, now, clock)
        # Bills change after this run began: some while a chain may still be half-read.
        for number, place in between:
            storyous.change(number, place, now + timedelta(seconds=1 + number))
        now += timedelta(minutes=15)
    for _ in range(12):  # clean runs until every place's chain has ended (a small page size takes a few)
        run_once(stack, storyous, Fault("none", 0), now, clock)
        now += timedelta(minutes=15)
        cursors = SyncStateStore(boto3.client("dynamodb", region_name=REGION), stack.sync_state_table)
        if all((c := cursors.pull_cursor(merchant, p)) is not None and c.next_page is None for p in PLACES):
            break
    run_once(stack, storyous, Fault("none", 0), now, clock)

    held = EntityStore(boto3.client("dynamodb", region_name=REGION), stack.entities_table).versions(
        merchant, "Bills", storyous.bills
    )
    expected = {
        bill_id: format_timestamp(datetime.fromisoformat(bill["_lastModifiedAt"]))
        for bill_id, bill in storyous.bills.items()
    }
    assert {bill_id: v.version for bill_id, v in held.items()} == expected
