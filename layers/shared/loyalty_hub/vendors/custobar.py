"""Custobar: customers through POST /api/customers/upload/, purchases through POST /api/sales/upload/.

Only fields the hub owns are sent, and a value removed at the source is sent as "" so Custobar clears
it. Money is integer cents. Company fields are `<prefix>__<name>` (tenant setting `field_prefix`).
"""

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from functools import partial
from typing import Any

import orjson
import phonenumbers
import requests

from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.entities import EntityStore
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.models.tenant import CustobarSettings
from loyalty_hub.models.vendor_message import VendorMessage
from loyalty_hub.remote import http
from loyalty_hub.remote.errors import PermanentError, VendorError, credentials_refused
from loyalty_hub.rules.projection import counted_bills
from loyalty_hub.storyous.mapping import parse_money
from loyalty_hub.vendors.isolate import isolate
from loyalty_hub.vendors.worker import tenant_vendor_settings, vendor_metric

BATCH = 500  # Custobar's own plugins upload at most 500 records per request
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
    try:
        parsed = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def customer_payload(item: dict[str, Any], settings: CustobarSettings, region: str) -> dict[str, Any]:
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
    """One row per bill item; a bill that does not count (README "Refunds") is sent as CANCELLED."""
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


class Custobar:
    name = "custobar"

    def __init__(
        self,
        tenants: TenantStore,
        customers: CustomerStore,
        entities: EntityStore,
        secrets: Callable[[str], dict[str, Any]],
        session: requests.Session | None = None,
    ) -> None:
        self._tenants = tenants
        self._customers = customers
        self._entities = entities
        self._secrets = secrets
        self._http = session or http.session(self.name)

    def deliver(
        self,
        tenant_id: str,
        messages: Sequence[VendorMessage],
        *,
        time_left: Callable[[], float] = lambda: float("inf"),
    ) -> dict[int, VendorError]:
        """One upload per 500 customers, then their sales. Custobar does not say which record it refused,
        so a refused upload is halved until the refused record is found (vendors.isolate): one bad
        record costs its own message only."""
        found = tenant_vendor_settings(self._tenants, tenant_id, self.name)
        if found is None:
            return {}
        tenant, settings = found
        secret = self._secrets(tenant_id)
        items = self._customers.get_many(tenant_id, {m.customer_id for m in messages})
        owners: dict[str, list[int]] = {}  # customer id -> the messages about it
        for index, message in enumerate(messages):
            owners.setdefault(message.customer_id, []).append(index)
        customers, errors = self._customer_records(tenant_id, items, settings, tenant.country, owners)
        upload = partial(self._upload, settings, secret, "customers")
        for chunk in _chunks(customers):
            for customer_id, error in isolate(chunk, upload, time_left=time_left).items():
                errors |= dict.fromkeys(owners[customer_id], error)

        # Sales of the customers that were uploaded; a refused row fails the messages that named its bill.
        listed: dict[str, list[int]] = {}
        for index, message in enumerate(messages):
            if index not in errors:
                for bill_id in message.bill_ids:
                    listed.setdefault(bill_id, []).append(index)
        rows, unmapped = self._sale_records(tenant_id, items, listed)
        errors |= unmapped
        upload = partial(self._upload, settings, secret, "sales")
        for chunk in _chunks(rows):
            for bill_id, error in isolate(chunk, upload, time_left=time_left).items():
                errors |= dict.fromkeys(listed[bill_id], error)
        return errors

    def _customer_records(
        self,
        tenant_id: str,
        items: dict[str, dict[str, Any]],
        settings: CustobarSettings,
        country: str,
        owners: dict[str, list[int]],
    ) -> tuple[list[tuple[str, dict[str, Any]]], dict[int, VendorError]]:
        """Each customer's upload record, or the error that fails the messages about it."""
        customers: list[tuple[str, dict[str, Any]]] = []
        errors: dict[int, VendorError] = {}
        for customer_id, item in items.items():
            try:
                customers.append((customer_id, customer_payload(item, settings, country)))
            except (ValueError, TypeError, ArithmeticError, KeyError) as exc:
                errors |= dict.fromkeys(owners[customer_id], _unmappable("customer", exc))
        left_out = sum(1 for cid, payload in customers if phone_left_out(items[cid], payload))
        if left_out:
            vendor_metric(self.name, tenant_id, "InvalidPhoneLeftOut", left_out)
        return customers, errors

    def _sale_records(
        self, tenant_id: str, items: dict[str, dict[str, Any]], listed: dict[str, list[int]]
    ) -> tuple[list[tuple[str, dict[str, Any]]], dict[int, VendorError]]:
        """The sale rows of the listed bills, or the error that fails the messages naming a bill."""
        rows: list[tuple[str, dict[str, Any]]] = []
        errors: dict[int, VendorError] = {}
        ledgers = {cid: orjson.loads(item.get("ledger") or "{}") for cid, item in items.items()}
        counted = {bid for ledger in ledgers.values() for bid in counted_bills(ledger)}
        for bill_id, bill in sorted(self._entities.bodies(tenant_id, "Bills", listed).items()):
            owner = str(bill.get("customerId") or "")
            if not owner:
                continue
            entry = ledgers.get(owner, {}).get(bill_id, {})
            try:
                rows += [(bill_id, row) for row in sale_rows(bill, owner, bill_id in counted, paid_at=entry.get("t"))]
            except (ValueError, TypeError, ArithmeticError, KeyError) as exc:
                errors |= dict.fromkeys(listed[bill_id], _unmappable("sale", exc))
        return rows, errors

    def _upload(
        self, settings: CustobarSettings, secret: dict[str, Any], kind: str, records: list[dict[str, Any]]
    ) -> None:
        url = f"{str(settings.base_url).rstrip('/')}/api/{kind}/upload/"
        headers = {"Content-Type": "application/json"}
        auth: tuple[str, str] | None = None
        if settings.auth == "Basic":
            auth = (str(secret.get("custobar_username", "")), str(secret.get("custobar_password", "")))
        else:
            headers["Authorization"] = f"{settings.auth} {secret.get('custobar_token', '')}"
        try:
            response = http.send(
                self._http,
                "POST",
                url,
                what=f"custobar {kind} upload",
                data=orjson.dumps({kind: records}),
                headers=headers,
                auth=auth,
            )
        except PermanentError as error:
            if error.status in (401, 403):
                raise credentials_refused(error) from error
            raise
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("response") != "ok":
            reason = (
                body.get("error", {}).get("reason")
                if isinstance(body, dict) and isinstance(body.get("error"), dict)
                else None
            )
            detail = http.redact(str(reason))[:200] if reason else "no {'response': 'ok'}"
            raise PermanentError(f"custobar {kind} upload: not accepted: {detail}", status=response.status_code)


def _chunks[T](records: list[T]) -> Iterable[list[T]]:
    for start in range(0, len(records), BATCH):
        yield records[start : start + BATCH]


def _unmappable(what: str, exc: Exception) -> PermanentError:
    # Our own wording, or only the exception's type: a value that failed to map may be personal data.
    detail = str(exc) if isinstance(exc, Unmappable) else type(exc).__name__
    return PermanentError(f"could not map the {what} for Custobar: {detail}")
