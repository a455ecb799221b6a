"""Part 3b: Voyado lookups per customer change over a realistic delivery history.

One merchant, 40 customers, 300 deliveries: bills (1-5 per delivery, for any customer), loyalty records
that change what Voyado cannot answer on (names, consents, points) and loyalty records with a new
email (an identifier change), half of the emails known to Voyado. Every delivery goes the whole way:
ingest, the customers table's stream into capture, the Voyado queue into the worker against the
document-shaped sandbox, the enrichment back through ingest. Counted: sandbox lookups per identifier
change, and the lookups that happened while only bills changed.
"""

import json
import random
from typing import Any

import boto3
from moto import mock_aws

from benchmarks.fakes import LambdaContext
from functions.capture import app as capture_app
from loyalty_hub import aws, config, observability
from loyalty_hub.dal import tenants
from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.logic import capture, ingest
from loyalty_hub.models.enrichment import EnrichmentUpdate
from loyalty_hub.models.tenant import Place, Tenant
from loyalty_hub.models.vendors import Vendors, VoyadoSettings
from loyalty_hub.vendors.voyado import Voyado, shop_bucket
from loyalty_hub.vendors.worker import process_batch
from loyalty_hub_dev.sandboxes.voyado import VoyadoSandbox
from tests.support.deliveries import archive, bill
from tests.support.stack import MERCHANT, PLACE, REGION, add_tenant, create_stack
from tests.support.streams import stream_event
from tests.support.wsgi_transport import session_for

CUSTOMERS, DELIVERIES, SEED = 40, 300, 12


def main() -> None:
    print(f"== Voyado lookups per change: {CUSTOMERS} customers, {DELIVERIES} deliveries, the whole path")
    rng = random.Random(SEED)
    sandbox = VoyadoSandbox(api_key="k", bucket_size=10_000)
    with mock_aws():
        stack = create_stack()
        import os  # noqa: PLC0415 - the functions read their settings from the environment

        os.environ.update(stack.env())
        config.load.cache_clear()
        ingest.default_deps.cache_clear()
        capture.default_deps.cache_clear()
        tenants.clear_cache()
        add_tenant(stack)
        client = boto3.client("dynamodb", region_name=REGION)
        settings = VoyadoSettings(base_url="https://live.voyado.eastsideapps.io", bucket_size=10_000)
        store = TenantStore(stack.tenants_table, client=client, cache_seconds=0)
        store.put(Tenant(tenant_id=MERCHANT, name="bench", places={PLACE: Place()}, vendors=Vendors(voyado=settings)))
        updates: list[EnrichmentUpdate] = []
        vendor = Voyado(
            store,
            CustomerStore(client, stack.customers_table),
            lambda tenant, shop: shop_bucket(client, stack.rate_limit_table, tenant, shop),
            updates.append,
            lambda _: {"voyado_api_key": "k"},
            session=session_for(sandbox),
        )
        sqs = boto3.client("sqs", region_name=REGION)
        deps = ingest.default_deps()
        identifier_changes = bill_changes = lookups_on_bills = other_changes = 0
        emails: dict[str, str] = {}
        for step in range(DELIVERIES):
            domain, kind, data = _delivery(rng, step, emails, sandbox)
            before = sandbox.accepted
            pointer = archive(stack.raw_bucket, MERCHANT, PLACE, domain, data)
            event = stream_event(stack.customers_table, lambda p=pointer: ingest.ingest_delivery(deps, p))
            changed = len(event["Records"])
            identifier_changes += changed if kind == "identifier" else 0
            bill_changes += changed if kind == "bills" else 0
            other_changes += changed if kind == "other" else 0
            capture_app.lambda_handler(event, LambdaContext("CaptureFunction"))
            _drain(sqs, stack.voyado_queue_url, vendor, stack.voyado_dlq_url)
            for update in updates:
                enrichment = stream_event(stack.customers_table, lambda u=update: ingest.apply_enrichment(deps, u))
                capture_app.lambda_handler(enrichment, LambdaContext("CaptureFunction"))
            updates.clear()
            _drain(sqs, stack.voyado_queue_url, vendor, stack.voyado_dlq_url)
            lookups_on_bills += (sandbox.accepted - before) if kind == "bills" else 0
            # Disabled, Powertools neither prints nor clears on flush, but prints a metric's 100th value anyway.
            observability.metrics.clear_metrics()
        aws.reset()
    print(
        f"customer changes: {identifier_changes} identifier, {other_changes} other loyalty, {bill_changes} bill-only; "
        f"Voyado lookups {sandbox.accepted}"
    )
    print(
        f"lookups per identifier change: {sandbox.accepted / max(identifier_changes, 1):.2f} (target <= 1.20); "
        f"lookups on bill-only changes: {lookups_on_bills} (target 0)"
    )


def _delivery(
    rng: random.Random, step: int, emails: dict[str, str], sandbox: VoyadoSandbox
) -> tuple[str, str, list[dict[str, Any]]]:
    """The next delivery of the history: (domain, what it changes, entities)."""
    modified = f"2024-07-{1 + step // 24:02d}T{step % 24:02d}:00:00Z"
    roll = rng.random()
    if roll < 0.6:
        bills = [
            bill(f"B{step}-{n}", f"C{rng.randrange(CUSTOMERS)}", str(rng.randint(1, 99)), modified, modified)
            for n in range(rng.randint(1, 5))
        ]
        return "Bills", "bills", bills
    customer = f"C{rng.randrange(CUSTOMERS)}"
    kind = "other"
    if roll < 0.8 or customer not in emails:
        emails[customer] = f"{customer.lower()}.{step}@example.cz"
        if rng.random() < 0.5:
            sandbox.add_contact(emails[customer], bonus_points=step)
        kind = "identifier"
    body = {
        "customerId": customer,
        "email": emails[customer],
        "firstName": rng.choice(["Jana", "Petr", "Eva"]),
        "consents": {"email": rng.random() < 0.5},
        "points": rng.randint(0, 50),
        "_lastModifiedAt": modified,
    }
    return "Loyalty", kind, [body]


def _drain(sqs: Any, url: str, vendor: Voyado, dlq: str) -> None:
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
        "Messages", []
    ):
        event = {
            "Records": [
                {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                 "attributes": m["Attributes"]}
                for m in messages
            ]
        }  # fmt: skip
        outcome = process_batch(event, vendor, sqs=sqs, queue_url=url, dlq_url=dlq, max_receives=5)
        failed = {f["itemIdentifier"] for f in outcome.failures}
        for m in messages:
            if m["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        assert not failed, json.dumps(outcome.failures)
