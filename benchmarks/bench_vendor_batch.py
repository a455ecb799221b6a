"""Part 3c: what `admin trace`'s last-send records cost the Custobar worker (D48).

One worker batch of 500 customers (Custobar's upload limit) and one of 100 (the template's BatchSize),
each run through `process_batch` against moto and the in-process Custobar sandbox, without and then
with the last-send record; every AWS request is counted by a botocore hook, every HTTP request by the
sandbox. The last-send write is one `batch_put` per batch: ceil(customers / 25) BatchWriteItem requests.
"""

import math
import os
from collections import Counter
from typing import Any

import boto3
from moto import mock_aws

from loyalty_hub import aws, config
from loyalty_hub.dal import tenants
from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.entities import EntityStore
from loyalty_hub.dal.ledger import LedgerStore
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.dal.vendor_ledger import LastSends
from loyalty_hub.limits import MAX_BATCH_WRITE_ITEMS
from loyalty_hub.logic import ingest
from loyalty_hub.models import structs
from loyalty_hub.models.tenant import Place, Tenant
from loyalty_hub.models.vendor_message import VendorMessage
from loyalty_hub.models.vendors import CustobarSettings, Vendors
from loyalty_hub.vendors.custobar import Custobar
from loyalty_hub.vendors.worker import process_batch
from loyalty_hub_dev.sandboxes.custobar import CustobarSandbox
from tests.support.deliveries import archive, bill
from tests.support.events import sqs_event
from tests.support.stack import MERCHANT, PLACE, REGION, Stack, add_tenant, create_stack, read_secret
from tests.support.wsgi_transport import session_for

BATCHES = (500, 100)
TOKEN = "custobar-bench-token"  # noqa: S105 - the sandbox's, not a credential
SETTINGS = CustobarSettings(base_url="https://acme.custobar.com", field_prefix="acme", auth="Token")


def seeded(customers: int) -> tuple[Stack, Any]:
    """A stack whose tenant has `customers` customers with one bill each, and a DynamoDB client."""
    stack = create_stack()
    add_tenant(stack, secret={"storyous_webhook_secret": "x" * 20, "custobar_token": TOKEN})
    os.environ.update(stack.env())
    config.load.cache_clear()
    ingest.default_deps.cache_clear()
    tenants.clear_cache()
    client = boto3.client("dynamodb", region_name=REGION)
    TenantStore(stack.tenants_table, client=client).put(
        Tenant(tenant_id=MERCHANT, name="Café", places={PLACE: Place()}, vendors=Vendors(custobar=SETTINGS))
    )
    data = [
        bill(f"B{i}", f"C{i}", f"{i}.50", "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01Z") for i in range(customers)
    ]
    ingest.ingest_delivery(ingest.default_deps(), archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", data))
    return stack, client


def run(customers: int, with_last_sends: bool) -> Counter[str]:
    """Requests, by service and operation, of one worker batch of `customers` messages."""
    counted: Counter[str] = Counter()
    with mock_aws():
        stack, ddb = seeded(customers)
        sqs = boto3.client("sqs", region_name=REGION)
        for client in (ddb, sqs):
            client.meta.events.register("before-call.*.*", lambda model, **_: counted.update([model.name]))
        sandbox = CustobarSandbox(token=TOKEN)
        store = TenantStore(stack.tenants_table, client=ddb, cache_seconds=0)
        vendor = Custobar(
            store, CustomerStore(ddb, stack.customers_table), EntityStore(ddb, stack.entities_table),
            lambda t: read_secret("custobar", t), ledger=LedgerStore(ddb, stack.entities_table),
            session=session_for(sandbox),
        )  # fmt: skip
        bodies = [
            structs.to_json(VendorMessage(tenant_id=MERCHANT, customer_id=f"C{i}", bill_ids=[f"B{i}"]))
            for i in range(customers)
        ]
        last_sends = LastSends(ddb, stack.vendor_ledger_table) if with_last_sends else None
        outcome = process_batch(
            sqs_event(bodies), vendor, sqs=sqs, queue_url=stack.custobar_queue_url,
            dlq_url=stack.custobar_dlq_url, max_receives=5, last_sends=last_sends,
        )  # fmt: skip
        assert not outcome.failures, "every message must reach the sandbox"
        counted.update(f"Custobar {path}" for path, _ in sandbox.requests)
        aws.reset()
        ingest.default_deps.cache_clear()
    return counted


def main() -> None:
    print("== Custobar worker batch: requests without and with the last-send record (admin trace, D48)")
    for customers in BATCHES:
        before, after = run(customers, with_last_sends=False), run(customers, with_last_sends=True)
        added = after - before
        bound = math.ceil(customers / MAX_BATCH_WRITE_ITEMS)
        print(
            f"{customers} customers: {before.total()} requests before, {after.total()} after "
            f"(+{', '.join(f'{k} {v}' for k, v in sorted(added.items())) or 'none'}; "
            f"bound ceil({customers}/{MAX_BATCH_WRITE_ITEMS}) = {bound}); "
            f"after / before {after.total() / before.total():.2f}"
        )
        print(f"  before: {', '.join(f'{k} {v}' for k, v in sorted(before.items()))}")
