"""Every Storyous field name the hub reads, in one module.

Several DataSync schemas were not readable when this was written (vendor-reference.md, "Open
questions" 4-6), so fields are read tolerantly from the candidates below. When a real delivery shows
the true names, correct them here and nowhere else.
"""

import hashlib
from dataclasses import dataclass
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


def _flag(value: Any) -> bool:
    """Consent and status flags: booleans, 0/1, "true"/"false", or a grant timestamp meaning yes."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() not in {"", "0", "false", "no", "n", "off", "null"}
    return False


def _first(entity: dict[str, Any], *paths: str) -> Any:
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


def _text(entity: dict[str, Any], *paths: str) -> str | None:
    return _clean(_first(entity, *paths))


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
        refunded=_flag(bill.get("refunded")),
        refund_of=_clean(bill.get("refundedBillIdentifier")),
        deleted=_flag(bill.get("deleted")),
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
    return _text(category, "name", "title")


def item_category_id(item: dict[str, Any]) -> str | None:
    return _text(item, "categoryId", "category.categoryId", "category.id")


@dataclass(frozen=True)
class ContactFacts:
    """Contact data and consents of one loyalty customer, as DailyStory names them."""

    customer_id: str
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    mobile_phone: str | None = None
    allow_email: bool = False
    allow_sms: bool = False
    city: str | None = None
    state: str | None = None
    address: str | None = None
    zip: str | None = None
    birth_date: str | None = None
    points: Decimal | None = None
    card: str | None = None  # loyalty card number, if the Loyalty domain carries one


def contact_facts(customer_id: str, loyalty: dict[str, Any]) -> ContactFacts:
    first = _text(loyalty, "firstName", "first_name", "givenName")
    last = _text(loyalty, "lastName", "last_name", "surname", "familyName")
    if first is None and last is None and (full := _text(loyalty, "fullName", "name")):
        first, _, rest = full.partition(" ")
        last = rest.strip() or None
    email = _text(loyalty, "email", "emailAddress", "contact.email")
    general = _first(loyalty, "marketingConsent", "consents.marketing")
    email_consent = _first(loyalty, "emailConsent", "allowEmail", "consents.email", "consents.emailMarketing")
    sms_consent = _first(loyalty, "smsConsent", "allowSms", "consents.sms", "consents.smsMarketing")
    birth = _text(loyalty, "birthDate", "birthday", "dateOfBirth")
    return ContactFacts(
        customer_id=customer_id,
        first_name=first,
        last_name=last,
        email=email.lower() if email else None,
        mobile_phone=_text(loyalty, "phone", "phoneNumber", "mobilePhone", "mobile", "contact.phone"),
        allow_email=_flag(email_consent if email_consent is not None else general),
        allow_sms=_flag(sms_consent if sms_consent is not None else general),
        city=_text(loyalty, "city", "address.city", "addressParts.city"),
        state=_text(loyalty, "state", "region", "address.state"),
        address=_text(loyalty, "street", "address.street", "addressParts.street")
        or (_text(loyalty, "address") if isinstance(loyalty.get("address"), str) else None),
        zip=_text(loyalty, "zip", "zipCode", "postalCode", "address.zip", "addressParts.zip"),
        birth_date=birth[:10] if birth else None,
        points=parse_money(_first(loyalty, "points", "pointsBalance", "balance", "stamps")),
        card=_text(loyalty, "cardNumber", "card", "loyaltyCard", "cardId"),
    )


def is_deleted(entity: dict[str, Any]) -> bool:
    return _flag(entity.get("deleted")) or _flag(entity.get("isDeleted"))


# Set on a Loyalty record the hub erased, so that replaying its rewritten delivery erases it again.
ERASED_MARK: Final = "_erasedByLoyaltyHub"
# What an erased Loyalty record keeps: its ids, its version and its deletion flags. A list of what to keep,
# not of what to drop, because the Loyalty schema is not known (vendor-reference.md, open question 5).
LOYALTY_KEPT_FIELDS: Final = frozenset(
    {*ID_FIELDS["Loyalty"], *GENERIC_ID_FIELDS, VERSION_FIELD, "deleted", "isDeleted", ERASED_MARK}
)


def scrub_loyalty(entity: dict[str, Any], at: str) -> dict[str, Any]:
    """The Loyalty record without anything but the fields that identify the record itself."""
    kept = {name: value for name, value in entity.items() if name in LOYALTY_KEPT_FIELDS}
    return {**kept, ERASED_MARK: kept.get(ERASED_MARK, at)}


def erasure_reason(loyalty: dict[str, Any]) -> str | None:
    """Why a Loyalty record carries no person: Storyous deleted the member, or the hub erased it."""
    if is_deleted(loyalty):
        return "loyalty_deleted"
    return "forget" if loyalty.get(ERASED_MARK) else None
