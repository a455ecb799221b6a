"""Invariant: for any delivery mixing valid entities with poison ones (of every kind DynamoDB or the
mapping refuses), every valid entity is stored on the first attempt and counts in its customer, every
poison entity is quarantined with a reason and counts nowhere, and the tenant's next delivery is
ingested in the same receive."""

import itertools
from decimal import Decimal
from typing import Any

import boto3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.ingest import app as ingest_app
from loyalty_hub.dal.quarantine import QuarantineStore
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.limits import MAX_ITEM_BYTES
from loyalty_hub.models import structs
from loyalty_hub.models.quarantine import CODES
from loyalty_hub.models.tenant import Place, Tenant
from tests.support.deliveries import archive, bill, customer_item, entity_item
from tests.support.events import sqs_event
from tests.support.stack import REGION, Stack

PLACE = "P1"
PAID, MODIFIED = "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01Z"
GOOD_CUSTOMERS = ["C0", "C1", "C2"]
_ids = itertools.count()


def poison_bill(kind: str, n: int) -> dict[str, Any]:
    """A bill only ingest can judge; its customer is its own, so it can be checked to count nowhere."""
    customer = f"X{n}"
    match kind:
        case "version_out_of_range":
            return bill(f"P{n}", customer, "1", PAID, "0001-01-01T00:00:00+14:00")
        case "paid_out_of_range":
            return bill(f"P{n}", customer, "1", "9999-12-31T23:59:59-14:00", MODIFIED)
        case "too_large":
            return bill(f"P{n}", customer, "1", PAID, MODIFIED, note="x" * MAX_ITEM_BYTES)
        case "bill_id_too_long":
            return bill(f"P{n}" + "p" * 1100, customer, "1", PAID, MODIFIED)
        case "customer_id_too_long":
            return bill(f"P{n}", customer + "x" * 2100, "1", PAID, MODIFIED)
        case "price_1e200":
            return bill(f"P{n}", customer, 1e200, PAID, MODIFIED)
        case "price_39_digits":
            return bill(f"P{n}", customer, "1" * 39, PAID, MODIFIED)
    raise AssertionError(kind)


KINDS = [
    "version_out_of_range",
    "paid_out_of_range",
    "too_large",
    "bill_id_too_long",
    "customer_id_too_long",
    "price_1e200",
    "price_39_digits",
]
entities = st.lists(
    st.one_of(
        st.tuples(st.just("good"), st.sampled_from(GOOD_CUSTOMERS), st.integers(1, 999)),
        st.tuples(st.just("poison"), st.sampled_from(KINDS), st.just(0)),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mix=entities)
def test_valid_entities_are_stored_poison_quarantined_and_the_next_delivery_goes_through(
    stack: Stack, lambda_context: Any, mix: list[tuple[str, str, int]]
) -> None:
    tenant_id = f"poison{next(_ids)}"
    TenantStore(stack.tenants_table, client=boto3.client("dynamodb", region_name=REGION)).put(
        Tenant(tenant_id=tenant_id, name="property", places={PLACE: Place()})
    )
    data, good, poison = [], {}, []
    for n, (what, detail, price) in enumerate(mix):
        if what == "good":
            body = bill(f"G{n}", detail, str(price), PAID, MODIFIED)
            good[f"G{n}"] = (detail, Decimal(price))
        else:
            body = poison_bill(detail, n)
            poison.append(body)
        data.append(body)
    delivery = archive(stack.raw_bucket, tenant_id, PLACE, "Bills", data)
    following = archive(stack.raw_bucket, tenant_id, PLACE, "Bills", [bill("NEXT", "C9", "5", PAID, MODIFIED)])
    event = sqs_event([structs.to_json(delivery), structs.to_json(following)], group=tenant_id)
    event["Records"][1]["messageId"] = "following"

    # One receive of the tenant's group, as Lambda hands it over: nothing fails, nothing is held back.
    assert ingest_app.lambda_handler(event, lambda_context) == {"batchItemFailures": []}

    for bill_id in good:
        assert entity_item(stack.entities_table, tenant_id, "Bills", bill_id) is not None, bill_id
    for customer in GOOD_CUSTOMERS:
        mine = [price for owner, price in good.values() if owner == customer]
        item = customer_item(stack.customers_table, tenant_id, customer)
        assert (item["total_orders"], item["total_sales"]) == (len(mine), sum(mine)) if mine else item is None
    records = QuarantineStore(boto3.client("dynamodb", region_name=REGION), stack.quarantine_table).list(tenant_id)
    assert len(records) == len(poison)
    assert all(r.code in CODES and r.reason and r.pointer.key == delivery.key for r in records)
    for n, (what, _, _) in enumerate(mix):
        if what == "poison":
            assert customer_item(stack.customers_table, tenant_id, f"X{n}") is None
    assert customer_item(stack.customers_table, tenant_id, "C9")["total_orders"] == 1
