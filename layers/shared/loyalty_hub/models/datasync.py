"""Storyous DataSync: the webhook envelope and the pointer the webhook hands to ingest."""

from typing import Annotated, Any, Final, Literal

from loyalty_hub.errors import BadRequest, InvalidEnvelope
from loyalty_hub.models import structs
from loyalty_hub.models.ids import DomainName
from loyalty_hub.models.structs import AwareDatetime, Meta, Model, field

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


class DataSyncEnvelope(Model, frozen=True, kw_only=True):
    """One DataSync request: a single domain and the entities changed since the last successful sync.
    Unknown envelope fields are never a reason to reject; `source` (set by the Storyous pull) is read.
    The entities are left undecoded: storyous.mapping reads each (and what of it the hub needs), and
    ingest stores each as it came, without encoding it again."""

    dataDomain: DomainName
    data: list[structs.Raw]
    source: Any = None


class DeliveryPointer(Model, frozen=True, kw_only=True):
    """What the webhook enqueues for ingest: where the archived raw body lies and whose it is."""

    kind: Literal["delivery"] = "delivery"
    tenant_id: str
    place_id: str
    domain: str
    bucket: str
    key: str
    sha256: Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")]
    received_at: AwareDatetime
    entities: Annotated[int, Meta(ge=0)]
    # Set by `quarantine retry`: the quarantine ids this ingest settles, with their attempts so far.
    retry: dict[str, int] = field(default_factory=dict)
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


def parse_envelope(body: bytes, *, compact: bool = False) -> DataSyncEnvelope:
    """The envelope in a raw body; BadRequest when it is not JSON, InvalidEnvelope naming the field.
    `compact`: its entities' JSON without insignificant whitespace (ingest stores each as it is)."""
    try:
        return structs.decode(DataSyncEnvelope, structs.compact(body) if compact else body)
    except structs.Invalid as exc:
        if str(exc).startswith("Expected `object`, got") and " - at " not in str(exc):  # not an object at all
            raise InvalidEnvelope("body must be a JSON object with dataDomain and data") from exc
        raise InvalidEnvelope(structs.reason(exc)) from exc
    except structs.Malformed as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from exc
