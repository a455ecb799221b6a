"""The customer as the hub stores and serves it."""

from decimal import Decimal
from typing import Annotated, Final

from loyalty_hub.models.structs import Meta, Model, field

CONTACT_FIELDS: Final = (
    "first_name",
    "last_name",
    "mobile_phone",
    "email",
    "points",
    "allow_sms",
    "allow_email",
    "city",
    "state",
    "address",
    "zip",
    "birth_date",
)
AGGREGATE_FIELDS: Final = (
    "store_id",
    "total_orders",
    "total_sales",
    "date_first_order",
    "date_last_order",
    "last_order_value",
    "categories",
    "currency",
)
# Everything the projection derives; a change in any of these is a change DailyStory and vendors see.
VIEW_FIELDS: Final = CONTACT_FIELDS + AGGREGATE_FIELDS
# The record DailyStory's Basic Integration Pattern example shows, in its order (plus `last_updated`).
DAILYSTORY_FIELDS: Final = ("id", *CONTACT_FIELDS, *(f for f in AGGREGATE_FIELDS if f != "currency"))


def number(value: Decimal) -> int | float:
    """JSON numbers, as DailyStory's example shows them (4118.01, 65), not strings."""
    return int(value) if value == value.to_integral_value() else float(value)


Money = int | float  # from the stored Decimal by `number`
Count = Annotated[int, Meta(ge=0)]
OffsetDateTime = Annotated[str, Meta(description="ISO-8601 with UTC offset", examples=["2021-01-23T16:33:37-06:00"])]


class CustomerRecord(Model, frozen=True, kw_only=True):
    """One customer in DailyStory's Basic Integration Pattern shape; unknown values are null."""

    id: str
    first_name: str | None = None
    last_name: str | None = None
    mobile_phone: str | None = None
    email: str | None = None
    points: Money | None = None
    allow_sms: bool = False
    allow_email: bool = False
    city: str | None = None
    state: str | None = None
    address: str | None = None
    zip: str | None = None
    birth_date: Annotated[str, Meta(description="YYYY-MM-DD")] | None = None
    store_id: str | None = None
    total_orders: Count = 0
    total_sales: Money = 0
    date_first_order: OffsetDateTime | None = None
    date_last_order: OffsetDateTime | None = None
    last_order_value: Money | None = None
    categories: list[str] = field(default_factory=list)
    last_updated: OffsetDateTime


class CustomersPage(Model, frozen=True, kw_only=True):
    count: Annotated[int, Meta(ge=0, description="All records that match last_updated, not only this page")]
    start: Count
    limit: Count
    records: list[CustomerRecord]


class ApiError(Model, frozen=True, kw_only=True):
    error: str
