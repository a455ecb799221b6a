"""Storyous DataSync: the webhook envelope and the pointer the webhook hands to ingest."""

from typing import Any, Final, Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from loyalty_hub.errors import BadRequest, InvalidEnvelope

# The domains Storyous documents for DataSync; any other domain is still accepted and stored generically.
KNOWN_DOMAINS: Final = frozenset(
    {
        "Stocks",
        "StockItemCategories",
        "StockItems",
        "StockMovements",
        "Bills",
        "BillCosts",
        "TerminalTransactions",
        "PaymentTypes",
        "Loyalty",
        "DeskSections",
        "Desks",
        "ItemCategories",
        "Items",
        "PlaceItems",
        "Merchants",
        "Places",
        "Persons",
    }
)


class DataSyncEnvelope(BaseModel):
    """One DataSync request: a single domain and the entities changed since the last successful sync."""

    model_config = ConfigDict(extra="allow")  # unknown envelope fields are kept, never a reason to reject

    dataDomain: str = Field(min_length=1, max_length=64)
    data: list[dict[str, Any]]


class DeliveryPointer(BaseModel):
    """What the webhook enqueues for ingest: where the archived raw body lies and whose it is."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["delivery"] = "delivery"
    tenant_id: str
    place_id: str
    domain: str
    bucket: str
    key: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    received_at: AwareDatetime
    entities: int = Field(ge=0)
    # Set by `quarantine retry`: the quarantine ids this ingest settles, with their attempts so far.
    retry: dict[str, int] = Field(default_factory=dict)
    # Set by `replay`: apply the body even if it was applied before (the tables are being rebuilt).
    replay: bool = False

    @property
    def reapply(self) -> bool:
        """Applied whatever its delivery mark says: a replay, or a quarantine retry."""
        return self.replay or bool(self.retry)

    @property
    def delivery_id(self) -> str:
        """Short id for log lines; identical bodies share it, which is what an operator wants to see."""
        return self.sha256[:16]


def parse_envelope(body: bytes) -> DataSyncEnvelope:
    """The envelope in a raw body; BadRequest when it is not JSON, InvalidEnvelope naming the field."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise InvalidEnvelope("body must be a JSON object with dataDomain and data")
    try:
        return DataSyncEnvelope.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        raise InvalidEnvelope(f"{field}: {first['msg']}") from exc
