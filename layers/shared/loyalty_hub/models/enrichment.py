"""What a vendor told us about a customer, on its way to the customer through the ingest queue.

Vendor workers do not write customers themselves: ingest stays the single writer of a tenant's
customers (docs/decisions.md D1), so an enrichment is a message on the ingest queue like a delivery.
"""

from typing import Any, Literal

from loyalty_hub.models.structs import AwareDatetime, Model

# Where several sources know a customer's points, the first that has a value wins (docs/architecture.md, "Points").
POINTS_PRECEDENCE: tuple[str, ...] = ("voyado", "orderingstack")


class EnrichmentUpdate(Model, frozen=True, kw_only=True):
    kind: Literal["enrichment"] = "enrichment"
    tenant_id: str
    customer_id: str
    vendor: Literal["voyado", "orderingstack"]
    observed_at: AwareDatetime
    data: dict[str, Any]
