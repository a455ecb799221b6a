"""Ids that become parts of keys, URLs and archive paths: checked here, and only here.

Storyous merchant and place ids are 24 hex digits (vendor-reference.md §1.1); the alphabet below is a
superset that every key, S3 path and URL segment can hold as it is. Entity ids (bills, customers,
products) are not documented beyond examples, so they are only bounded: see `entity_id_problem`.
"""

import re
from typing import Annotated, Any, Final

from loyalty_hub.limits import MAX_ID_BYTES
from loyalty_hub.models.structs import Meta

ID_PATTERN: Final = r"^[A-Za-z0-9_-]{1,64}$"
_ID: Final = re.compile(ID_PATTERN)
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")

TenantId = Annotated[str, Meta(pattern=ID_PATTERN)]
PlaceId = Annotated[str, Meta(pattern=ID_PATTERN)]
# A domain becomes part of its entities' partition key (`<tenant>#<domain>`): "~" starts the hub's own
# partitions beside them (ledgers, delivery marks, appearances, the erasure log) and "#" separates key
# parts, so neither may appear (D53). Storyous's own are CamelCase words; "/" and "." stay for unknown ones.
DOMAIN_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,63}$"
DomainName = Annotated[str, Meta(pattern=DOMAIN_PATTERN)]


def is_valid_id(value: str) -> bool:
    """A tenant (merchant) or place id, as models, the webhook, the admin command and the archive accept."""
    return _ID.fullmatch(value) is not None


def entity_id_problem(value: Any) -> str | None:
    """Why a Storyous entity id (a string or an integer) cannot be stored, or None."""
    # Printable ASCII holds no control character and is one byte a character: nothing more to look at.
    if isinstance(value, str) and value.isascii() and value.isprintable() and value.strip():
        return None if len(value) <= MAX_ID_BYTES else f"an id of {len(value)} bytes exceeds {MAX_ID_BYTES}"
    if isinstance(value, bool) or not isinstance(value, str | int):
        return f"an id must be a string or an integer, not {type(value).__name__}"
    text = str(value)
    if not text.strip():
        return "an id must not be empty"
    size = len(text.encode())
    if size > MAX_ID_BYTES:
        return f"an id of {size} bytes exceeds {MAX_ID_BYTES}"
    if _CONTROL.search(text):
        return "an id must not contain control characters"
    return None
