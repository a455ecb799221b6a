"""Deliveries as the webhook would have archived them, for driving ingest directly."""

import json
from datetime import UTC, datetime
from typing import Any

import boto3

from loyalty_hub.dal.archive import archive_delivery
from loyalty_hub.dal.codec import from_item
from loyalty_hub.models.datasync import DeliveryPointer

REGION = "eu-central-1"


def archive(
    bucket: str,
    tenant_id: str,
    place_id: str,
    domain: str,
    data: list[dict[str, Any]],
    *,
    received_at: datetime | None = None,
) -> DeliveryPointer:
    body = json.dumps({"dataDomain": domain, "data": data}).encode()
    return archive_delivery(
        boto3.client("s3", region_name=REGION),
        bucket=bucket,
        tenant_id=tenant_id,
        place_id=place_id,
        domain=domain,
        body=body,
        entities=len(data),
        received_at=received_at or datetime(2024, 7, 12, 8, 0, tzinfo=UTC),
    )


def customer_item(table: str, tenant_id: str, customer_id: str) -> dict[str, Any] | None:
    response = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=table, Key={"pk": {"S": f"{tenant_id}#{customer_id}"}}, ConsistentRead=True
    )
    return from_item(response["Item"]) if "Item" in response else None


def entity_item(table: str, tenant_id: str, domain: str, entity_id: str) -> dict[str, Any] | None:
    response = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=table, Key={"pk": {"S": f"{tenant_id}#{domain}"}, "sk": {"S": entity_id}}, ConsistentRead=True
    )
    return from_item(response["Item"]) if "Item" in response else None


def bill(
    bill_id: str,
    customer_id: str | None,
    price: Any,
    paid_at: str,
    modified_at: str,
    *,
    categories: tuple[str | None, ...] = ("c:coffee",),
    **extra: Any,
) -> dict[str, Any]:
    return {
        "billId": bill_id,
        "customerId": customer_id,
        "finalPrice": price,
        "paidAt": paid_at,
        "createdAt": paid_at,
        "currencyCode": "CZK",
        "refunded": False,
        "refundedBillIdentifier": None,
        "_lastModifiedAt": modified_at,
        "items": [
            {"name": f"item {i}", "amount": 1, "price": 10, "productId": f"p:{i}", "categoryId": c}
            for i, c in enumerate(categories)
        ],
        **extra,
    }
