"""Every Storyous field name the hub reads, here and, for the Loyalty record, in storyous.loyalty.

Several DataSync schemas were not readable when this was written (vendor-reference.md, "Open
questions" 4-6), so fields are read tolerantly from the candidates below. When a real delivery shows
the true names, correct them here and nowhere else.
"""

import hashlib
from datetime import datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any, Final, TypedDict, cast

import orjson

from loyalty_hub.models.structs import Invalid, Model, Raw, decoder, sorted_json

# Id field per domain, tried in order; `id` and `_id` are the generic fallbacks for every domain.
ID_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "Bills": ("billId",),
    "BillCosts": ("billCostId", "billId"),
    "Loyalty": ("customerId", "loyaltyCustomerId"),
    "ItemCategories": ("categoryId",),
    "Items": ("productId", "itemId"),
    "PlaceItems": ("placeItemId", "productId"),
    "Merchants": ("merchantId",),
    "Places": ("placeId",),
    "Persons": ("personId",),
    "PaymentTypes": ("paymentTypeId", "code"),
    "Desks": ("deskId",),
    "DeskSections": ("sectionId", "deskSectionId"),
    "Stocks": ("stockId",),
    "StockItems": ("stockItemId",),
    "StockItemCategories": ("stockItemCategoryId", "categoryId"),
    "StockMovements": ("movementId", "stockMovementId"),
    "TerminalTransactions": ("transactionId", "terminalTransactionId"),
}
GENERIC_ID_FIELDS: Final = ("id", "_id")
VERSION_FIELD: Final = "_lastModifiedAt"
BILL_ITEMS_FIELD: Final = "items"


# The names tried, per domain, built once: ingest asks for every entity of a delivery.
_ID_CANDIDATES: Final = {domain: (*names, *GENERIC_ID_FIELDS) for domain, names in ID_FIELDS.items()}


def entity_id(domain: str, entity: dict[str, Any]) -> tuple[str, bool]:
    """The entity's id and whether it came from a field; without one, a hash of its content stands in."""
    if (found := _id_value(domain, entity)) is not None:
        return found, True
    try:
        canonical = orjson.dumps(entity, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # an integer beyond 64 bits: never hashed before (it failed its delivery), so no id to keep
        canonical = sorted_json(entity)
    return "sha256:" + hashlib.sha256(canonical).hexdigest(), False


def _id_value(domain: str, entity: dict[str, Any]) -> str | None:
    for name in _ID_CANDIDATES.get(domain, GENERIC_ID_FIELDS):
        value = entity.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return None


def id_fields(domain: str, entity: dict[str, Any]) -> list[tuple[str, Any]]:
    """The id values an entity carries that become keys: its own id field (the first present), and on a
    bill the customer it names."""
    found = [(name, entity[name]) for name in (*ID_FIELDS.get(domain, ()), *GENERIC_ID_FIELDS) if name in entity][:1]
    if domain == "Bills" and entity.get("customerId") is not None:
        found.append(("customerId", entity["customerId"]))
    return found


def parse_datetime(value: Any, zone: tzinfo) -> datetime | None:
    """ISO-8601 from Storyous; a value without an offset is read in the tenant's time zone."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def parse_money(value: Any) -> Decimal | None:
    """Amounts come as numbers or numeric strings ("150.4", "10.00"); floats keep their shortest repr."""
    if value is None or isinstance(value, bool):
        return None
    text = repr(value) if isinstance(value, float) else str(value).strip()
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def flag(value: Any) -> bool:
    """Consent and status flags: booleans, 0/1, "true"/"false", or a grant timestamp meaning yes."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() not in {"", "0", "false", "no", "n", "off", "null"}
    return False


def first_value(entity: dict[str, Any], *paths: str) -> Any:
    """The first present, non-empty value among dotted paths."""
    for path in paths:
        node: Any = entity
        if "." not in path:  # most paths are one name: no split, no walk
            node = entity.get(path)
        else:
            for part in path.split("."):
                node = node.get(part) if isinstance(node, dict) else None
        if node not in (None, ""):
            return node
    return None


def text_value(entity: dict[str, Any], *paths: str) -> str | None:
    """The first present value among dotted paths, as text (stripped; None when nothing is left)."""
    return _clean(first_value(entity, *paths))


def _clean(value: Any) -> str | None:
    """A value read as text: stripped, and None when nothing is left."""
    return None if value is None else str(value).strip() or None


class BillFacts(Model, frozen=True, kw_only=True):  # a Model, not a dataclass: one a bill, 10x cheaper to build
    bill_id: str
    customer_id: str | None
    amount: Decimal | None
    paid_at: datetime | None
    currency: str | None
    category_ids: tuple[str, ...]
    uncategorized_products: tuple[str, ...]
    refunded: bool
    refund_of: str | None
    deleted: bool


def bill_customer_id(bill: dict[str, Any]) -> str | None:
    return _clean(bill.get("customerId"))


def bill_has_items(bill: dict[str, Any]) -> bool:
    """False for a bill from the REST list, which leaves items out (a bill's detail carries them)."""
    return isinstance(bill.get(BILL_ITEMS_FIELD), list)


def bill_facts(bill_id: str, bill: dict[str, Any], zone: tzinfo) -> BillFacts:
    categories: set[str] = set()
    products: set[str] = set()
    for item in bill.get(BILL_ITEMS_FIELD) or []:
        if not isinstance(item, dict):
            continue
        # One name each: read directly, not through _text's path walk (a delivery has ~5 items a bill).
        if category := _clean(item.get("categoryId")):
            categories.add(category)
        elif product := _clean(item.get("productId")):
            products.add(product)
    return BillFacts(
        bill_id=bill_id,
        customer_id=bill_customer_id(bill),
        amount=parse_money(bill.get("finalPrice")),
        paid_at=parse_datetime(bill.get("paidAt"), zone) or parse_datetime(bill.get("createdAt"), zone),
        currency=_clean(bill.get("currencyCode")),
        category_ids=tuple(sorted(categories)),
        uncategorized_products=tuple(sorted(products)),
        refunded=flag(bill.get("refunded")),
        refund_of=_clean(bill.get("refundedBillIdentifier")),
        deleted=flag(bill.get("deleted")),
    )


class _BillItemRead(TypedDict, total=False):
    categoryId: Any
    productId: Any


# What the hub reads of a bill (`entity_id`, `bill_facts`, `id_fields`): decoding these alone, not every
# field Storyous sends, halves the cost of reading a delivery. Values are taken as they came, read above.
class _BillRead(TypedDict, total=False):
    billId: Any
    id: Any
    _id: Any
    _lastModifiedAt: Any
    customerId: Any
    finalPrice: Any
    paidAt: Any
    createdAt: Any
    currencyCode: Any
    refunded: Any
    refundedBillIdentifier: Any
    deleted: Any
    items: list[_BillItemRead] | None


def read_bill(raw: Raw) -> dict[str, Any] | None:
    """The fields above of a bill; None for a bill of another shape (items that are not objects) or without
    an id field (its whole content is its id): those are read whole."""
    try:
        bill = cast(dict[str, Any], _read_bill(raw))
    except Invalid:
        return None
    if type(bill_id := bill.get("billId")) is str and bill_id:  # nearly every bill: the id is there
        return bill
    return bill if _id_value("Bills", bill) is not None else None


_read_bill: Final = decoder(_BillRead)


def category_name(category: dict[str, Any]) -> str | None:
    return text_value(category, "name", "title")


def item_category_id(item: dict[str, Any]) -> str | None:
    return text_value(item, "categoryId", "category.categoryId", "category.id")
