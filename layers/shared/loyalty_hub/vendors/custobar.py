"""Custobar: customers through POST /api/customers/upload/, purchases through POST /api/sales/upload/.

Only fields the hub owns are sent, and a value removed at the source is sent as "" so Custobar clears
it. Money is integer cents. Company fields are `<prefix>__<name>` (tenant setting `field_prefix`).
"""

from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

import orjson

from loyalty_hub import aws, secrets
from loyalty_hub.config import VendorWorkerSettings
from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.entities import EntityStore
from loyalty_hub.dal.ledger import LedgerStore
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.models.vendor_message import VendorMessage
from loyalty_hub.models.vendors import CustobarSettings
from loyalty_hub.remote import http
from loyalty_hub.remote.errors import PermanentError, VendorError, credentials_refused
from loyalty_hub.rules.ledger import Slot, item_slots
from loyalty_hub.vendors.custobar_records import Unmappable, customer_payload, phone_left_out, sale_rows
from loyalty_hub.vendors.fates import vendor_metric
from loyalty_hub.vendors.isolate import isolate
from loyalty_hub.vendors.worker import tenant_vendor_settings

BATCH = 500  # Custobar's own plugins upload at most 500 records per request


class Custobar:
    name = "custobar"

    def __init__(
        self,
        tenants: TenantStore,
        customers: CustomerStore,
        entities: EntityStore,
        secrets: Callable[[str], dict[str, Any]],
        *,
        ledger: LedgerStore,
        session: http.Transport | None = None,
    ) -> None:
        self._tenants = tenants
        self._customers = customers
        self._entities = entities
        self._ledger = ledger
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
        bills = self._entities.bodies(tenant_id, "Bills", listed)
        owned = {bid: str(bill.get("customerId") or "") for bid, bill in bills.items()}
        by_customer: dict[str, dict[str, Any]] = {}
        for (cid, bid), stored in self._ledger.get(tenant_id, {(o, b) for b, o in owned.items() if o in items}).items():
            by_customer.setdefault(cid, {})[bid] = stored
        slots = {cid: item_slots(item, by_customer.get(cid, {})) for cid, item in items.items()}
        for bill_id, bill in sorted(bills.items()):
            owner = owned[bill_id]
            if not owner or (items.get(owner) or {}).get("erased"):
                continue  # no customer, or one erased: Custobar must not link sales to it again
            slot = slots.get(owner, {}).get(bill_id) or Slot()
            counted, paid_at = slot.counted(), (slot.entry or {}).get("t")
            try:
                rows += [(bill_id, row) for row in sale_rows(bill, owner, counted, paid_at=paid_at)]
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


def build(settings: VendorWorkerSettings) -> Custobar:
    """The worker's Custobar, from the vendor workers' settings (vendors.wiring)."""
    dynamodb = aws.client("dynamodb")
    return Custobar(
        TenantStore.from_settings(settings),
        CustomerStore(dynamodb, settings.CUSTOMERS_TABLE),
        EntityStore(dynamodb, settings.ENTITIES_TABLE),
        secrets.reader(settings, "custobar"),
        ledger=LedgerStore(dynamodb, settings.ENTITIES_TABLE),
    )
