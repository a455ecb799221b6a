"""Realistic Storyous deliveries of a given size, deterministic for a seed."""

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

CATEGORIES = [f"c:cat{i:02d}" for i in range(12)]
CATEGORY_NAMES = [
    "Coffee",
    "Tea",
    "Pastry",
    "Cakes",
    "Breakfast",
    "Lunch",
    "Soups",
    "Salads",
    "Beer",
    "Wine",
    "Soft drinks",
    "Desserts",
]


def bills(count: int, customers: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    customer_ids = [f"M{rng.getrandbits(64):016X}" for _ in range(customers)]
    # every customer appears at least once, the rest of the bills fall on random customers
    owners = customer_ids + [rng.choice(customer_ids) for _ in range(count - customers)]
    rng.shuffle(owners)
    start = datetime(2024, 7, 1, 8, tzinfo=UTC)
    result = []
    for i, owner in enumerate(owners):
        paid = start + timedelta(minutes=7 * i)
        items = []
        for _ in range(rng.randint(1, 4)):
            price = rng.choice([45, 49.9, 65, 89, 120, 145.5, 245])
            items.append(
                {
                    "name": "Menu item",
                    "amount": rng.randint(1, 3),
                    "measure": "pcs",
                    "price": price,
                    "vatRate": 0.12,
                    "productId": f"p:{rng.getrandbits(32):08x}",
                    "decodedId": rng.randint(1, 9999),
                    "categoryId": rng.choice(CATEGORIES),
                    "ean": None,
                }
            )
        total = sum(item["amount"] * item["price"] for item in items)
        refunded = rng.random() < 0.03
        result.append(
            {
                "billId": f"TM2024{i:06d}",
                "sessionCreated": (paid - timedelta(minutes=40)).isoformat(),
                "createdAt": (paid - timedelta(seconds=30)).isoformat(),
                "paidAt": paid.astimezone().isoformat(),
                "fiscalizedAt": None,
                "finalPrice": f"{total:.2f}" if i % 2 else round(total, 2),
                "finalPriceWithoutTax": f"{total / 1.12:.2f}",
                "taxSummaries": {"12": f"{total - total / 1.12:.2f}"},
                "discount": "0",
                "rounding": "0",
                "tips": "0",
                "currencyCode": "CZK",
                "refunded": refunded,
                "refundedBillIdentifier": None,
                "paymentMethod": rng.choice(["cash", "card", "split"]),
                "payments": [{"paymentMethod": "card", "priceWithVat": f"{total:.2f}"}],
                "createdBy": {"personId": 11, "fullName": "Waiter", "userName": "w"},
                "paidBy": {"personId": 11, "fullName": "Waiter", "userName": "w"},
                "personCount": rng.randint(1, 4),
                "deskId": f"d:{rng.randint(1, 30)}",
                "issuedAsVatPayer": True,
                "customerId": owner,
                "orderProvider": None,
                "_lastModifiedAt": (paid + timedelta(seconds=1)).isoformat(),
                "items": items,
            }
        )
    return result


def categories() -> list[dict[str, Any]]:
    return [
        {"categoryId": c, "name": n, "_lastModifiedAt": "2024-06-01T00:00:00Z"}
        for c, n in zip(CATEGORIES, CATEGORY_NAMES, strict=True)
    ]


def envelope(domain: str, data: list[dict[str, Any]]) -> bytes:
    return json.dumps({"dataDomain": domain, "data": data}).encode()
