"""A delivery Storyous sends again costs one read (D45); replay, quarantine retry and a crashed first
attempt still apply it."""

from collections import Counter
from typing import Any

import pytest

from loyalty_hub.logic import ingest
from loyalty_hub.logic.ingest import IngestDeps, ingest_delivery
from loyalty_hub.models import structs
from tests.support.deliveries import archive, bill, customer_item
from tests.support.stack import MERCHANT, PLACE, Stack

pytestmark = pytest.mark.usefixtures("tenant")


@pytest.fixture
def deps(stack: Stack) -> IngestDeps:
    return ingest.default_deps()


def calls(deps: IngestDeps) -> Counter[str]:
    counted: Counter[str] = Counter()
    deps.entities._client.meta.events.register("before-call.dynamodb", lambda model, **_: counted.update([model.name]))
    return counted


BILLS = [bill("B1", "C1", "10", "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01Z")]


def test_the_same_body_again_is_one_read_and_changes_nothing(stack: Stack, deps: IngestDeps) -> None:
    pointer = archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", BILLS)
    first = ingest_delivery(deps, pointer)
    assert first.written == 1 and not first.duplicate
    before = customer_item(stack.customers_table, MERCHANT, "C1")
    counted = calls(deps)
    again = ingest_delivery(deps, archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", BILLS))
    assert again.duplicate and again.written == 0
    assert counted == Counter({"GetItem": 1})
    assert customer_item(stack.customers_table, MERCHANT, "C1") == before


def test_the_same_body_for_another_domain_or_a_replay_is_applied(stack: Stack, deps: IngestDeps) -> None:
    pointer = archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", BILLS)
    ingest_delivery(deps, pointer)
    replayed = ingest_delivery(deps, structs.replace(pointer, replay=True))
    assert not replayed.duplicate and replayed.stale == 1  # read again, found already stored
    retried = ingest_delivery(deps, structs.replace(pointer, retry={"q1": 1}))
    assert not retried.duplicate


def test_a_first_attempt_that_died_before_its_mark_is_applied_on_the_retry(stack: Stack, deps: IngestDeps) -> None:
    pointer = archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", BILLS)

    def crash(**_: Any) -> None:
        raise RuntimeError("execution environment died")

    deps.entities._client.meta.events.register("before-call.dynamodb.BatchWriteItem", crash)
    with pytest.raises(RuntimeError):
        ingest_delivery(deps, pointer)
    deps.entities._client.meta.events.unregister("before-call.dynamodb.BatchWriteItem", crash)
    retried = ingest_delivery(deps, pointer)
    assert not retried.duplicate and retried.written == 1
    assert customer_item(stack.customers_table, MERCHANT, "C1") is not None


def test_a_delivery_quarantined_whole_is_not_marked(stack: Stack, deps: IngestDeps) -> None:
    pointer = archive(stack.raw_bucket, "UnknownTenant", PLACE, "Bills", BILLS)
    assert ingest_delivery(deps, pointer).quarantined == 1
    assert ingest_delivery(deps, pointer).quarantined == 1  # not skipped: it is kept until someone acts
