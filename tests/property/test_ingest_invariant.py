"""Invariant: after any interleaving of deliveries (duplicates, reordering, a bill changed, refunded or moved
later, the same bill via two places, category names arriving late, a crash between any two of a delivery's
writes, retried at once or only after later deliveries), each customer's aggregates equal a from-scratch
computation over the latest version of each distinct bill, and its summary (kept by deltas, D50) equals
rules.projection over its whole stored ledger.

The reference below is written independently of loyalty_hub.rules.projection on purpose.
"""

import itertools
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any
from unittest.mock import patch

import boto3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.entities import EntityStore
from loyalty_hub.dal.ledger import LedgerStore
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.logic import ingest
from loyalty_hub.models.tenant import Place, Tenant
from loyalty_hub.rules import ledger as ledger_rules
from loyalty_hub.rules import projection
from loyalty_hub.rules.ledger import Summary
from tests.support.deliveries import archive, customer_item
from tests.support.doubles import FixedClock
from tests.support.stack import REGION, Stack

BILL_IDS = [f"B{i}" for i in range(6)]
CUSTOMERS = ["C0", "C1", "C2"]
CATEGORY_IDS = ["c:1", "c:2", "c:3"]
PLACES = ["P1", "P2"]
VERSIONS = [1, 2, 3]
_tenants = itertools.count()


def modified(version: int) -> str:
    return f"2024-07-01T10:0{version}:00Z"


@dataclass(frozen=True)
class BillVersion:
    customer: str | None
    amount: Decimal
    as_string: bool
    paid_day: int
    paid_zone: str
    refunded: bool
    refund_of: str | None
    deleted: bool
    categories: tuple[str, ...]

    def paid_at(self) -> str:
        return f"2024-06-{self.paid_day:02d}T12:00:00{self.paid_zone}"

    def body(self, bill_id: str, version: int) -> dict[str, Any]:
        return {
            "billId": bill_id,
            "customerId": self.customer,
            "finalPrice": str(self.amount) if self.as_string else float(self.amount),
            "paidAt": self.paid_at(),
            "currencyCode": "CZK",
            "refunded": self.refunded,
            "refundedBillIdentifier": self.refund_of,
            "deleted": self.deleted,
            "_lastModifiedAt": modified(version),
            "items": [{"productId": f"p{c}", "categoryId": c, "amount": 1} for c in self.categories],
        }


bill_versions = st.builds(
    BillVersion,
    customer=st.sampled_from([*CUSTOMERS, None]),
    amount=st.decimals(min_value=-50, max_value=500, places=2, allow_nan=False, allow_infinity=False),
    as_string=st.booleans(),
    paid_day=st.integers(1, 5),
    paid_zone=st.sampled_from(["+02:00", "Z", "-05:00"]),
    refunded=st.sampled_from([False, False, False, True]),  # most bills count, so ends move often
    refund_of=st.sampled_from([None, None, None, None, *BILL_IDS]),
    deleted=st.sampled_from([False, False, False, True]),
    categories=st.lists(st.sampled_from(CATEGORY_IDS), max_size=2, unique=True).map(tuple),
)
# Each (bill, version) has one content, as at the source: a version is a moment in the bill's life.
histories = st.fixed_dictionaries(
    {(b, v): bill_versions for b in BILL_IDS for v in VERSIONS}
    | {(c, v): st.sampled_from(["Coffee", "Cake", "Tea", "Lunch"]) for c in CATEGORY_IDS for v in VERSIONS}
)
bill_step = st.tuples(
    st.just("Bills"),
    st.sampled_from(PLACES),
    st.lists(st.tuples(st.sampled_from(BILL_IDS), st.sampled_from(VERSIONS)), min_size=1, max_size=6),
)
category_step = st.tuples(
    st.just("ItemCategories"),
    st.sampled_from(PLACES),
    st.lists(st.tuples(st.sampled_from(CATEGORY_IDS), st.sampled_from(VERSIONS)), min_size=1, max_size=3),
)
steps = st.lists(st.one_of(bill_step, bill_step, category_step), min_size=1, max_size=8)


def _dying(deps: ingest.IngestDeps, stack: Stack, where: str) -> ingest.IngestDeps:
    """The same deps, but the function dies at one of a delivery's writes: its entities (after its
    customers), its customers (after their ledgers), or the close of its open record (after both)."""
    client = boto3.client("dynamodb", region_name=REGION)

    def crash(params: dict[str, Any], **_: Any) -> None:
        requests = [r for rs in params["RequestItems"].values() for r in rs]
        if where != "close" or any("~open" in r.get("DeleteRequest", {}).get("Key", {}).get("pk", {}).get("S", "")
                                   for r in requests):  # fmt: skip
            raise RuntimeError("execution environment died")

    client.meta.events.register("before-parameter-build.dynamodb.BatchWriteItem", crash)
    if where == "entities":
        return replace(deps, entities=EntityStore(client, stack.entities_table))
    if where == "customers":
        return replace(deps, customers=CustomerStore(client, stack.customers_table))
    return replace(deps, ledger=LedgerStore(client, stack.entities_table))


def reference(
    history: dict[tuple[str, int], Any], delivered: list[tuple[str, str, list[tuple[str, int]]]]
) -> dict[str, dict[str, Any]]:
    latest_bill: dict[str, int] = {}
    latest_name: dict[str, int] = {}
    for domain, _, picks in delivered:
        target = latest_bill if domain == "Bills" else latest_name
        for entity_id, version in picks:
            target[entity_id] = max(version, target.get(entity_id, 0))
    names = {c: history[(c, v)] for c, v in latest_name.items()}
    bills = {b: history[(b, v)] for b, v in latest_bill.items()}
    result: dict[str, dict[str, Any]] = {}
    for customer in CUSTOMERS:
        mine = {b: bill for b, bill in bills.items() if bill.customer == customer}
        if not mine:
            continue
        reversed_ids = {bill.refund_of for bill in mine.values() if bill.refund_of}
        counted = {
            b: bill
            for b, bill in mine.items()
            if not (bill.deleted or bill.refunded or bill.refund_of or b in reversed_ids or bill.amount < 0)
        }
        ordered = sorted(counted, key=lambda b: (datetime.fromisoformat(counted[b].paid_at()), b))
        result[customer] = {
            "total_orders": len(counted),
            "total_sales": sum((bill.amount for bill in counted.values()), Decimal(0)),
            "date_first_order": datetime.fromisoformat(counted[ordered[0]].paid_at()) if ordered else None,
            "date_last_order": datetime.fromisoformat(counted[ordered[-1]].paid_at()) if ordered else None,
            "last_order_value": counted[ordered[-1]].amount if ordered else None,
            "categories": sorted({names[c] for bill in counted.values() for c in bill.categories if c in names}),
        }
    return result


def observed(item: dict[str, Any]) -> dict[str, Any]:
    def when(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    return {
        "total_orders": item["total_orders"],
        "total_sales": item["total_sales"],
        "date_first_order": when(item.get("date_first_order")),
        "date_last_order": when(item.get("date_last_order")),
        "last_order_value": item.get("last_order_value"),
        "categories": item["categories"],
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    history=histories,
    plan=steps,
    replay=st.booleans(),
    crash_at=st.integers(0, 8),
    where=st.sampled_from(["entities", "customers", "close"]),
    retry_at_once=st.booleans(),
    ends=st.sampled_from([1, ledger_rules.ENDS]),  # one end bill kept: its rebuild from the ledger is frequent
)
def test_aggregates_equal_a_from_scratch_computation(
    stack: Stack,
    history: dict[tuple[str, int], Any],
    plan: list[Any],
    replay: bool,
    crash_at: int,
    where: str,
    retry_at_once: bool,
    ends: int,
) -> None:
    with patch.object(ledger_rules, "ENDS", ends):
        tenant_id = f"prop{next(_tenants)}"
        TenantStore(stack.tenants_table, client=boto3.client("dynamodb", region_name=REGION)).put(
            Tenant(tenant_id=tenant_id, name="property", places={p: Place() for p in PLACES})
        )
        clock = FixedClock()
        deps = ingest.default_deps()
        deps.clock = clock
        deliveries = plan + plan[::-1] if replay else plan  # replaying everything backwards must change nothing
        left_over = []  # a delivery that died, retried only after the tenant's later ones (dead-lettered, redriven)
        for step, (domain, place, picks) in enumerate(deliveries):
            data = [
                history[(eid, v)].body(eid, v)
                if domain == "Bills"
                else {"categoryId": eid, "name": history[(eid, v)], "_lastModifiedAt": modified(v)}
                for eid, v in picks
            ]
            clock.now = clock.now.replace(minute=step % 60, hour=8 + step // 60)
            pointer = archive(stack.raw_bucket, tenant_id, place, domain, data)
            if step == crash_at:  # the function dies; SQS delivers the message again, at once or later
                with suppress(RuntimeError):  # (a delivery with nothing new writes nothing, so it cannot die there)
                    ingest.ingest_delivery(_dying(deps, stack, where), pointer)
                if not retry_at_once:
                    left_over.append(pointer)
                    continue
            ingest.ingest_delivery(deps, pointer)
        for pointer in left_over:
            ingest.ingest_delivery(deps, pointer)

        expected = reference(history, deliveries)
        assert deps.ledger.opened(tenant_id) == {}  # the Bills delivery after a crash (its own retry at last) repaired
        for customer in CUSTOMERS:
            item = customer_item(stack.customers_table, tenant_id, customer)
            if customer in expected:
                assert item is not None, customer
                assert observed(item) == expected[customer], customer
            elif item is not None:  # once had bills that all moved elsewhere
                assert item["total_orders"] == 0 and item["total_sales"] == 0
            if item is not None:
                ledger = {b: s["e"] for b, s in deps.ledger.of_customer(tenant_id, customer).items() if s["e"]}
                as_ids = {c: c for c in CATEGORY_IDS}  # categories compared by id: names are the check above
                kept = Summary.from_json(item["summary"]).aggregates(as_ids)
                assert kept == projection.aggregates(ledger, as_ids), customer
