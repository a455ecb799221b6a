"""Part 1c: no cliff in a customer's history. Two customers of one tenant, one with 100 bills and one with
10,000 (the ledger inside the customer item passed DynamoDB's 400 KB at ~2,500), each seeded through
ingest; then deliveries of one new bill each, alternating between them: DynamoDB requests, capacity
units and CPU time (ingest against moto, in-process) of adding a bill, and the ratio big / small.
"""

import statistics
import time
from collections import Counter
from typing import Any

from moto import mock_aws

from benchmarks import payloads
from benchmarks.bench_ingest import moto_deps
from benchmarks.capacity import Capacity
from loyalty_hub import aws
from loyalty_hub.dal import tenants
from loyalty_hub.dal.codec import to_item
from loyalty_hub.limits import MAX_ITEM_BYTES, item_size
from loyalty_hub.logic import ingest
from tests.support.deliveries import archive, customer_item
from tests.support.stack import MERCHANT, PLACE, add_tenant, create_stack

SMALL, BIG = 100, 10_000
PAIRS = 9
SEED_DELIVERY = 1000  # bills per seeding delivery, as a history import would send them


def history(customer: str, count: int, start: int = 0) -> list[dict[str, Any]]:
    """`count` bills of one customer, each paid later than the one before."""
    bills = payloads.bills(count, 1, seed=start + len(customer))
    return [
        {**b, "billId": f"{customer}-{start + i:06d}", "customerId": customer, "refunded": False}
        for i, b in enumerate(bills)
    ]


def main() -> None:
    print(f"== customer history: adding one bill at {SMALL:,} and at {BIG:,} bills (goal: big <= 2x small)")
    with mock_aws():
        stack = create_stack()
        add_tenant(stack)
        tenants.clear_cache()
        client = aws.client("dynamodb")
        deps = moto_deps(stack, client)
        for customer, count in (("SMALL", SMALL), ("BIG", BIG)):
            for start in range(0, count, SEED_DELIVERY):
                bills = history(customer, min(SEED_DELIVERY, count - start), start)
                report = ingest.ingest_delivery(deps, archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", bills))
                assert report.quarantined == 0, report
        big = customer_item(stack.customers_table, MERCHANT, "BIG") or {}
        print(
            f"seeded through ingest: BIG has total_orders {big['total_orders']:,}, its customer item "
            f"{item_size(to_item(big)):,} bytes (DynamoDB's limit {MAX_ITEM_BYTES:,})"
        )
        counts: dict[str, list[Counter[str]]] = {"SMALL": [], "BIG": []}
        units: dict[str, list[float]] = {"SMALL": [], "BIG": []}
        cpu: dict[str, list[float]] = {"SMALL": [], "BIG": []}
        capacity = Capacity({stack.entities_table: "EntitiesTable", stack.customers_table: "CustomersTable"})
        capacity.register(client)
        calls: Counter[str] = Counter()
        client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.update([model.name]))
        for n in range(PAIRS):
            for customer, count in (("SMALL", SMALL), ("BIG", BIG)):
                pointer = archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", history(customer, 1, count + n))
                before, wcu, rru = Counter(calls), capacity.wcu, capacity.rru
                started = time.process_time()
                ingest.ingest_delivery(deps, pointer)
                cpu[customer].append((time.process_time() - started) * 1000)
                counts[customer].append(calls - before)
                units[customer].append(capacity.wcu - wcu + capacity.rru - rru)
        final = customer_item(stack.customers_table, MERCHANT, "BIG") or {}
        assert final["total_orders"] == BIG + PAIRS
        aws.reset()
    for customer in ("SMALL", "BIG"):
        last = counts[customer][-1]
        by_call = ", ".join(f"{k} {v}" for k, v in sorted(last.items()))
        print(
            f"  {customer.lower():5s}: {sum(last.values())} requests ({by_call}), "
            f"{statistics.median(units[customer]):.1f} capacity units, {statistics.median(cpu[customer]):.1f} ms CPU"
        )
    requests = statistics.median(sum(c.values()) for c in counts["BIG"]) / statistics.median(
        sum(c.values()) for c in counts["SMALL"]
    )
    cost = statistics.median(units["BIG"]) / statistics.median(units["SMALL"])
    ratios = [b / s for b, s in zip(cpu["BIG"], cpu["SMALL"], strict=True)]
    print(f"big / small: requests {requests:.2f}, capacity units {cost:.2f}, CPU {statistics.median(ratios):.2f} "
          f"(median of {PAIRS} interleaved pairs)   (goal <= 2.00 each)")  # fmt: skip
