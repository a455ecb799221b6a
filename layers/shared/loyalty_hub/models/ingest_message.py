"""What the ingest queue carries: deliveries, vendors' enrichment and erasures, told apart by `kind`."""

from typing import Literal

from loyalty_hub.models import structs
from loyalty_hub.models.datasync import DeliveryPointer
from loyalty_hub.models.enrichment import EnrichmentUpdate
from loyalty_hub.models.erasure import ErasureRequest
from loyalty_hub.models.structs import Model

IngestMessage = DeliveryPointer | EnrichmentUpdate | ErasureRequest
_KINDS: dict[str, type[IngestMessage]] = {
    "delivery": DeliveryPointer,
    "enrichment": EnrichmentUpdate,
    "erasure": ErasureRequest,
}


class _Kind(Model, frozen=True, kw_only=True):
    kind: Literal["delivery", "enrichment", "erasure"] = "delivery"  # deliveries queued before `kind` existed


def parse_ingest_message(body: str | bytes) -> IngestMessage:
    """The message an ingest queue body holds; `structs.Malformed` (naming the field) when it holds none."""
    kind = structs.decode(_Kind, body).kind
    return structs.decode(_KINDS[kind], body)
