"""Part 2b: a DailyStory sync's first page at 100,000 customers, timed without moto.

DynamoDB and S3 answer from responses prepared before the clock starts (botocore's before-send event),
shaped as AWS documents them: Query pages of the slim index cut at 1 MB of index entries (~100 bytes
each), BatchGetItem with the requested items, PutObject with an ETag. What is timed is our code and
botocore's parsing, i.e. the function's own time; the requests it makes are counted beside it, since
each costs a round trip on AWS.
"""

import statistics
import time
from collections import Counter
from typing import Any

import orjson
from botocore.awsrequest import AWSResponse

from benchmarks.fakes import RawBody
from loyalty_hub import aws
from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.snapshots import SnapshotStore
from loyalty_hub.logic.customer_api import CustomerApiDeps, ListQuery, list_customers
from loyalty_hub.models.tenant import Tenant

CUSTOMERS, LIMIT, RUNS = 100_000, 25, 5
INDEX_ENTRY_BYTES = 100  # gsi1pk, gsi1sk, pk, category_ids
PAGE_ITEMS = 1_000_000 // INDEX_ENTRY_BYTES
TENANT = "M1"
GOAL_SECONDS = 3.0


def _customer(i: int) -> dict[str, Any]:
    return {
        "customer_id": {"S": f"C{i:07d}"},
        "updated_at": {"S": "2024-07-01T10:00:00.000000Z"},
        "first_name": {"S": "Jana"},
        "email": {"S": f"c{i}@example.com"},
        "total_orders": {"N": "3"},
        "total_sales": {"N": "412.5"},
        "allow_sms": {"BOOL": False},
        "categories": {"L": [{"S": "Coffee"}]},
    }


class PreparedAws:
    """Answers DynamoDB and S3 calls from bytes built in advance; counts the calls."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._query_pages = []
        for first in range(0, CUSTOMERS, PAGE_ITEMS):
            items = [{"pk": {"S": f"{TENANT}#C{i:07d}"}} for i in range(first, min(first + PAGE_ITEMS, CUSTOMERS))]
            page: dict[str, Any] = {"Items": items, "Count": len(items), "ScannedCount": len(items)}
            if first + PAGE_ITEMS < CUSTOMERS:
                page["LastEvaluatedKey"] = {"pk": items[-1]["pk"], "gsi1pk": {"S": TENANT}, "gsi1sk": {"S": str(first)}}
            self._query_pages.append(orjson.dumps(page))

    def __call__(self, request: Any, **_: Any) -> AWSResponse:
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else target
        if target.endswith("Query"):
            self.calls["Query"] += 1
            start = orjson.loads(request.body).get("ExclusiveStartKey")
            number = 0 if start is None else int(start["gsi1sk"]["S"]) // PAGE_ITEMS + 1
            return self._answer(self._query_pages[number])
        if target.endswith("BatchGetItem"):
            self.calls["BatchGetItem"] += 1
            [(table, wanted)] = orjson.loads(request.body)["RequestItems"].items()
            found = [_customer(int(k["pk"]["S"].split("#C")[1])) for k in wanted["Keys"]]
            return self._answer(orjson.dumps({"Responses": {table: found}, "UnprocessedKeys": {}}))
        self.calls[f"S3 {request.method}"] += 1
        return AWSResponse(request.url, 200, {"ETag": '"e"'}, RawBody(b""))

    @staticmethod
    def _answer(body: bytes) -> AWSResponse:
        return AWSResponse("https://dynamodb", 200, {"Content-Type": "application/x-amz-json-1.0"}, RawBody(body))


def main() -> None:
    aws.reset()
    prepared = PreparedAws()
    dynamodb, s3 = aws.client("dynamodb"), aws.client("s3")
    for client in (dynamodb, s3):
        client.meta.events.register_first("before-send", prepared)
    deps = CustomerApiDeps(
        tenants=None,  # type: ignore[arg-type]
        customers=CustomerStore(dynamodb, "Customers"),
        snapshots=SnapshotStore(s3, "snapshots", ttl_seconds=1800),
        secrets=lambda _: {},
    )
    tenant = Tenant(tenant_id=TENANT, name="Bench")
    times = []
    for _ in range(RUNS):
        prepared.calls.clear()
        began = time.perf_counter()
        page = list_customers(deps, tenant, ListQuery(None, 0, LIMIT))
        times.append(time.perf_counter() - began)
        assert page.count == CUSTOMERS and len(page.records) == LIMIT
    aws.reset()
    calls = ", ".join(f"{k} {v}" for k, v in sorted(prepared.calls.items()))
    print(
        f"== DailyStory first page at {CUSTOMERS:,} customers: median {statistics.median(times):.2f} s, min "
        f"{min(times):.2f} s of function time over {RUNS} runs (goal <= {GOAL_SECONDS:.0f} s); requests: {calls}"
    )
