"""When Voyado is asked about a customer, and by which identifier: the worker and reconcile's refresh
follow the same rule (D30), so a duplicate or resent message costs no token of the shop's bucket."""

from datetime import datetime, timedelta
from typing import Any

from loyalty_hub.rules.timestamps import parse_timestamp

# A "not found" is asked again after a day, then after a week each time: most of those customers never
# join Voyado, and each lookup spends a token of the shop's bucket.
NOT_FOUND_BACKOFF = (timedelta(days=1), timedelta(days=7))
REFRESH_HOURS = 168.0  # reconcile's VOYADO_REFRESH_AGE_HOURS: a found contact is asked again this often


def lookup_identity(item: dict[str, Any]) -> dict[str, str] | None:
    """Exactly one identifier, as the bridge requires: the contact id once known, else the email."""
    known = (item.get("enrichment") or {}).get("voyado") or {}
    if known.get("contact_id"):
        return {"voyado_contact_id": str(known["contact_id"])}
    if item.get("email"):
        return {"email": str(item["email"])}
    return None


def wants_lookup(item: dict[str, Any], now: datetime, *, refresh_hours: float = REFRESH_HOURS) -> bool:
    """Whether asking Voyado now can tell us anything new: never asked by this identifier, a "not found"
    whose backoff is over (1 day after the first, a week after later ones), or an answer older than the
    refresh age. A new email or contact id is a new identifier, so it resets the backoff."""
    identity = lookup_identity(item)
    if identity is None:
        return False
    known = (item.get("enrichment") or {}).get("voyado") or {}
    if known.get("identity") != identity or not known.get("observed"):
        return True
    age = now - parse_timestamp(str(known["observed"]))
    if known.get("status") == "not_found":
        return age >= NOT_FOUND_BACKOFF[min(int(known.get("misses") or 1), len(NOT_FOUND_BACKOFF)) - 1]
    return age >= timedelta(hours=refresh_hours)


def misses(item: dict[str, Any], identity: dict[str, str], data: dict[str, Any]) -> dict[str, int]:
    """How many "not found" answers in a row this identifier has had."""
    if data.get("status") != "not_found":
        return {}
    known = (item.get("enrichment") or {}).get("voyado") or {}
    before = int(known.get("misses") or 0) if known.get("identity") == identity else 0
    return {"misses": before + 1}
