"""What the hub reads of a Storyous Loyalty record: the person and their consents, and what of the record
is kept when the person is erased. Field names are read tolerantly, as in storyous.mapping (the Loyalty
schema is not known: vendor-reference.md, open question 5); correct them here and nowhere else."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from loyalty_hub.storyous.mapping import (
    GENERIC_ID_FIELDS,
    ID_FIELDS,
    VERSION_FIELD,
    first_value,
    flag,
    parse_money,
    text_value,
)


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
    first = text_value(loyalty, "firstName", "first_name", "givenName")
    last = text_value(loyalty, "lastName", "last_name", "surname", "familyName")
    if first is None and last is None and (full := text_value(loyalty, "fullName", "name")):
        first, _, rest = full.partition(" ")
        last = rest.strip() or None
    email = text_value(loyalty, "email", "emailAddress", "contact.email")
    general = first_value(loyalty, "marketingConsent", "consents.marketing")
    email_consent = first_value(loyalty, "emailConsent", "allowEmail", "consents.email", "consents.emailMarketing")
    sms_consent = first_value(loyalty, "smsConsent", "allowSms", "consents.sms", "consents.smsMarketing")
    birth = text_value(loyalty, "birthDate", "birthday", "dateOfBirth")
    return ContactFacts(
        customer_id=customer_id,
        first_name=first,
        last_name=last,
        email=email.lower() if email else None,
        mobile_phone=text_value(loyalty, "phone", "phoneNumber", "mobilePhone", "mobile", "contact.phone"),
        allow_email=flag(email_consent if email_consent is not None else general),
        allow_sms=flag(sms_consent if sms_consent is not None else general),
        city=text_value(loyalty, "city", "address.city", "addressParts.city"),
        state=text_value(loyalty, "state", "region", "address.state"),
        address=text_value(loyalty, "street", "address.street", "addressParts.street")
        or (text_value(loyalty, "address") if isinstance(loyalty.get("address"), str) else None),
        zip=text_value(loyalty, "zip", "zipCode", "postalCode", "address.zip", "addressParts.zip"),
        birth_date=birth[:10] if birth else None,
        points=parse_money(first_value(loyalty, "points", "pointsBalance", "balance", "stamps")),
        card=text_value(loyalty, "cardNumber", "card", "loyaltyCard", "cardId"),
    )


def is_deleted(entity: dict[str, Any]) -> bool:
    return flag(entity.get("deleted")) or flag(entity.get("isDeleted"))


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
