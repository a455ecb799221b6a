"""What the ingest queue carries: deliveries, vendors' enrichment and erasures, told apart by `kind`."""

from typing import Annotated, Any

from pydantic import Discriminator, Tag

from loyalty_hub.models.datasync import DeliveryPointer
from loyalty_hub.models.enrichment import EnrichmentUpdate
from loyalty_hub.models.erasure import ErasureRequest


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("kind", "delivery"))  # deliveries queued before `kind` existed
    return str(getattr(value, "kind", "delivery"))


IngestMessage = Annotated[
    Annotated[DeliveryPointer, Tag("delivery")]
    | Annotated[EnrichmentUpdate, Tag("enrichment")]
    | Annotated[ErasureRequest, Tag("erasure")],
    Discriminator(_kind),
]
