"""The customer as the hub stores and serves it."""

from typing import Final

# The record DailyStory's Basic Integration Pattern example shows, in its order (plus `last_updated`).
DAILYSTORY_FIELDS: Final = (
    "id",
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
    "store_id",
    "total_orders",
    "total_sales",
    "date_first_order",
    "date_last_order",
    "last_order_value",
    "categories",
)
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
