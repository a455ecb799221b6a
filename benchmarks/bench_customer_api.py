"""Part 2: a full DailyStory sync of 10,000 customers with limit=25, and a sync's first page at 100,000.

Items read from DynamoDB divided by the number of customers, split into entries of the slim index (Query's
ScannedCount) and customer items (GetItem/BatchGetItem), for the snapshot paging the API uses and for
naive offset paging (each page reads from the top of the index and skips `start` items); snapshot ids
parsed from S3 per record served on cold pages. The 100k first page is timed against DynamoDB and S3
answers prepared in advance (bench_first_page), so the time is our code and botocore's, not moto's.
"""

import bisect
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from moto import mock_aws

from benchmarks import bench_first_page
from loyalty_hub import aws
from loyalty_hub.dal import snapshots
from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.snapshots import SnapshotStore
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.logic.customer_api import CustomerApiDeps, ListQuery, list_customers
from loyalty_hub.rules.customer import CustomerState
from loyalty_hub.rules.ledger import Slot
from loyalty_hub.rules.projection import ledger_entry
from loyalty_hub.storyous.mapping import BillFacts
from tests.support.stack import MERCHANT, PLACE, Stack, add_tenant, create_stack

CUSTOMERS, LIMIT = 10_000, 25
SINCE = "2024-01-01T00:00:00.000000Z"


def seed(stack: Stack) -> None:
    start = datetime(2024, 7, 1, tzinfo=UTC)
    items = []
    for i in range(CUSTOMERS):
        state = CustomerState(MERCHANT, f"C{i:06d}")
        paid = start + timedelta(minutes=i)
        facts = BillFacts(
            bill_id=f"B{i}",
            customer_id=state.customer_id,
            amount=None,
            paid_at=paid,
            currency="CZK",
            category_ids=("c:1",),
            uncategorized_products=(),
            refunded=False,
            refund_of=None,
            deleted=False,
        )
        state.slots[f"B{i}"] = Slot()  # a new bill: its slot read, and empty
        state.upsert_bill(f"B{i}", ledger_entry(facts, "2024-07-01T00:00:00.000000Z", PLACE, ("c:1",)))
        state.reproject({"c:1": "Coffee"}, start + timedelta(seconds=i))
        items.append(state.to_item())
    CustomerStore(aws.client("dynamodb"), stack.customers_table).put_many(items)


class ItemsRead:
    """Counts items DynamoDB reads for us, from every response that reports them."""

    def __init__(self) -> None:
        self.items = 0  # customer items (the table)
        self.index = 0  # index entries
        self.calls: Counter[str] = Counter()

    def __call__(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        self.calls[model.name] += 1
        if "ScannedCount" in parsed:
            self.index += parsed["ScannedCount"]
        elif "Item" in parsed:
            self.items += 1
        elif "Responses" in parsed:
            self.items += sum(len(v) for v in parsed["Responses"].values())


class CountingSnapshots(SnapshotStore):
    """Counts the ids parsed from S3 (cold pages)."""

    parsed = 0

    def _blocks(self, key: str, snapshot: Any, first: int, last: int) -> list[str]:
        ids = super()._blocks(key, snapshot, first, last)
        self.parsed += len(ids)
        return ids


def snapshot_sync(deps: CustomerApiDeps, tenant: Any, *, cold: bool) -> int:
    seen, start = 0, 0
    while True:
        if cold:
            snapshots.forget_all()  # every page on a different execution environment: pages come from S3
        page = list_customers(deps, tenant, ListQuery(SINCE, start, LIMIT))
        seen += len(page.records)
        start += LIMIT
        if start >= page.count:
            return seen


class SortedIndex:
    """The ByUpdated index as a sorted list, answering Query pages like DynamoDB (Limit, start key,
    ScannedCount). Naive paging on moto's index takes about an hour at this size; the count of items it
    reads depends only on the paging, which this reproduces."""

    def __init__(self, sort_keys: list[str]) -> None:
        self._keys = sorted(sort_keys)

    def query(self, since: str, limit: int, exclusive_start: str | None) -> dict[str, Any]:
        first = (
            bisect.bisect_right(self._keys, exclusive_start)
            if exclusive_start
            else bisect.bisect_left(self._keys, since)
        )
        items = self._keys[first : first + limit]
        more = first + limit < len(self._keys)
        return {
            "Items": items,
            "Count": len(items),
            "ScannedCount": len(items),
            "LastEvaluatedKey": items[-1] if more else None,
        }


def naive_sync(index: SortedIndex, counter: "ItemsRead") -> int:
    """Offset paging straight on the index: page k reads k*25+25 items and keeps the last 25."""
    seen = 0
    for start in range(0, CUSTOMERS, LIMIT):
        wanted, read, key = start + LIMIT, 0, None
        while read < wanted:
            response = index.query(SINCE, wanted - read, key)
            counter.calls["Query"] += 1
            counter.index += response["ScannedCount"]
            read += response["Count"]
            key = response["LastEvaluatedKey"]
            if not key:
                break
        seen += max(0, min(LIMIT, read - start))
    return seen


def main() -> None:
    print(f"== DailyStory: a full sync of {CUSTOMERS:,} customers, limit={LIMIT}")
    with mock_aws():
        stack = create_stack()
        tenant = add_tenant(stack)
        seed(stack)
        client = aws.client("dynamodb")
        deps = CustomerApiDeps(
            tenants=TenantStore(stack.tenants_table, client=client),
            customers=CustomerStore(client, stack.customers_table),
            snapshots=CountingSnapshots(aws.client("s3"), stack.snapshot_bucket, ttl_seconds=1800),
            secrets=lambda _: {},
        )
        results = {}
        for name, cold in (
            ("snapshot paging (the API), warm execution environment", False),
            ("snapshot paging (the API), every page on a cold one (pages from S3)", True),
        ):
            counter = ItemsRead()
            client.meta.events.register("after-call.dynamodb", counter)
            deps.snapshots.parsed = 0  # type: ignore[attr-defined]
            seen = snapshot_sync(deps, tenant, cold=cold)
            client.meta.events.unregister("after-call.dynamodb", counter)
            assert seen == CUSTOMERS, f"{name}: saw {seen} records"
            results[name] = counter
            if cold:
                parsed = deps.snapshots.parsed / CUSTOMERS  # type: ignore[attr-defined]
        keys = [f"2024-07-01T00:00:00.000000Z#C{i:06d}" for i in range(CUSTOMERS)]  # the index order, as sort keys
        aws.reset()
    counter = ItemsRead()
    assert naive_sync(SortedIndex(keys), counter) == CUSTOMERS
    results["naive offset paging (same index, in memory)"] = counter
    for name, counter in results.items():
        calls = ", ".join(f"{k} {v}" for k, v in sorted(counter.calls.items()))
        print(f"{name}: {counter.items:,} customer items and {counter.index:,} index entries read ({calls})")
        print(
            f"  customer items read / customers: {counter.items / CUSTOMERS:.2f}; index entries / customers: "
            f"{counter.index / CUSTOMERS:.2f}"
        )
    print("target for the API: customer items <= 1.20 per customer (naive offset paging reads ~200 index entries)")
    print(f"snapshot ids parsed from S3 per record served on cold pages: {parsed:.1f} (was ~20 records)")
    bench_first_page.main()
