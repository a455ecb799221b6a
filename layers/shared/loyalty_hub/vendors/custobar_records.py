"""Custobar's records as its customers and sales documents describe them (shared/vendor-docs/
custobar-customers-api.txt): only fields the hub owns, "" for a value removed at the source, money in
integer cents, company fields as `<prefix>__<name>`. Pure mapping: the client is vendors/custobar.py."""

import re
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from loyalty_hub.models.vendors import CustobarSettings
from loyalty_hub.storyous.mapping import parse_money

_KEEP = re.compile(r"[A-Za-z0-9]")


def external_id(customer_id: str) -> str:
    """Letters, digits and dashes only, and still one-to-one: other characters become -XX (UTF-8 hex)."""
    return "sty-" + "".join(c if _KEEP.fullmatch(c) else "".join(f"-{b:02X}" for b in c.encode()) for c in customer_id)


def cents(amount: Any) -> int | None:
    value = amount if isinstance(amount, Decimal) else parse_money(amount)
    if value is None:
        return None
    return int((value * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def e164(phone: str | None, region: str) -> str | None:
    if not phone:
        return None
    import phonenumbers  # noqa: PLC0415 - at first use: its 15 ms fall on the first phone, not on every cold start

    try:
        parsed = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def erased_payload(item: dict[str, Any]) -> dict[str, Any] | None:
    """An erased customer's whole record (doc L30, L68-70): `is_forgotten` anonymises it in Custobar for an
    erasure request, `is_deleted` removes it from marketing when Loyalty deleted the member (D47)."""
    erased = item.get("erased")
    if not erased:
        return None
    flag = "is_deleted" if erased.get("reason") == "loyalty_deleted" else "is_forgotten"
    return {"external_id": external_id(item["customer_id"]), flag: True}


def customer_payload(item: dict[str, Any], settings: CustobarSettings, region: str) -> dict[str, Any]:
    if (erased := erased_payload(item)) is not None:
        return erased
    prefix = settings.field_prefix

    def text(name: str) -> str:
        value = item.get(name)
        return "" if value is None else str(value)

    def number(value: Any) -> Any:
        return "" if value is None else value

    points = item.get("points")
    payload = {
        "external_id": external_id(item["customer_id"]),
        "first_name": text("first_name"),
        "last_name": text("last_name"),
        "email": text("email"),
        "street_address": text("address"),
        "zip_code": text("zip"),
        "city": text("city"),
        "province": text("state"),  # Custobar has no `state` (doc L33-49): its region field is `province`
        "birth_date": text("birth_date"),
        "can_email": bool(item.get("allow_email")),
        "can_sms": bool(item.get("allow_sms")),
        f"{prefix}__storyous_customer_id": item["customer_id"],
        f"{prefix}__total_orders": int(item.get("total_orders") or 0),
        f"{prefix}__total_sales": cents(item.get("total_sales") or 0),
        f"{prefix}__last_order_value": number(cents(item.get("last_order_value"))),
        f"{prefix}__date_first_order": text("date_first_order"),
        f"{prefix}__date_last_order": text("date_last_order"),
        f"{prefix}__categories": list(item.get("categories") or []),
        f"{prefix}__store_id": text("store_id"),
        f"{prefix}__points": number(None if points is None else int(points)),
    }
    phone = item.get("mobile_phone")
    if phone is None:
        payload["phone_number"] = ""  # gone at the source: Custobar clears it (doc L8)
    elif normalised := e164(phone, region):
        payload["phone_number"] = normalised
    else:
        # A number we cannot normalise is left out, so the one Custobar holds stays; counted by the caller.
        payload.pop("phone_number", None)
    return payload


def phone_left_out(item: dict[str, Any], payload: dict[str, Any]) -> bool:
    return item.get("mobile_phone") is not None and "phone_number" not in payload


class Unmappable(ValueError):
    """A record Custobar's document gives no way to send; the message names fields, never values."""


def sale_date(bill: dict[str, Any], paid_at: str | None = None) -> str:
    """ISO-8601 with an offset: the time ingest read for the bill (its ledger's `t`), else paidAt or
    createdAt if they read as ISO-8601; ValueError when none does (Custobar requires sale_date)."""
    for value in (paid_at, bill.get("paidAt"), bill.get("createdAt")):
        if isinstance(value, str) and value:
            try:
                return datetime.fromisoformat(value).isoformat()
            except ValueError:
                continue
    raise Unmappable("the bill has no readable sale date (paidAt, createdAt)")


def sale_rows(
    bill: dict[str, Any], customer_id: str, counts: bool, *, paid_at: str | None = None
) -> list[dict[str, Any]]:
    """One row per bill item; a bill that does not count (docs/architecture.md, "Refunds") is sent as CANCELLED."""
    sale = {
        "sale_external_id": str(bill["billId"]),
        "sale_customer_id": external_id(customer_id),
        "sale_date": sale_date(bill, paid_at),
        "sale_total": cents(bill.get("finalPrice")),
        "sale_currency": bill.get("currencyCode") or "",
        "sale_payment_method": bill.get("paymentMethod") or "",
    }
    if not counts:
        sale["sale_state"] = "CANCELLED"
    rows = []
    for index, item in enumerate(bill.get("items") or [{}]):
        quantity = parse_money(item.get("amount")) or Decimal(1)
        price = parse_money(item.get("price"))
        rows.append(
            {
                **sale,
                "external_id": f"{bill['billId']}-{index}",
                "product_id": str(item.get("productId") or ""),
                "quantity": float(quantity),
                "unit_price": cents(price),
                "total": cents(price * quantity) if price is not None else None,
            }
        )
    return [{k: v for k, v in row.items() if v is not None} for row in rows]
