"""An erasure: a customer's personal data removed from every copy the hub holds (D47).

It travels on the ingest queue in the tenant's message group, like a delivery: ingest is the single
writer of a tenant's customers, so an erasure cannot race a delivery that carries the same person.
"""

from typing import Annotated, Literal

from loyalty_hub.models.structs import AwareDatetime, Meta, Model

# "forget": a data subject's request (admin forget); "loyalty_deleted": Storyous deleted the member.
ErasureReason = Literal["forget", "loyalty_deleted"]


class ErasureRequest(Model, frozen=True, kw_only=True):
    kind: Literal["erasure"] = "erasure"
    tenant_id: str
    customer_id: str
    reason: ErasureReason
    request_id: Annotated[str, Meta(pattern=r"^[0-9a-f]{32}$")]
    requested_at: AwareDatetime
    requested_by: Annotated[str, Meta(max_length=200)]  # the operator's AWS identity, or "storyous"
