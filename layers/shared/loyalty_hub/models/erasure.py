"""An erasure: a customer's personal data removed from every copy the hub holds (D47).

It travels on the ingest queue in the tenant's message group, like a delivery: ingest is the single
writer of a tenant's customers, so an erasure cannot race a delivery that carries the same person.
"""

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

# "forget": a data subject's request (admin forget); "loyalty_deleted": Storyous deleted the member.
ErasureReason = Literal["forget", "loyalty_deleted"]


class ErasureRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["erasure"] = "erasure"
    tenant_id: str
    customer_id: str
    reason: ErasureReason
    request_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    requested_at: AwareDatetime
    requested_by: str = Field(max_length=200)  # the operator's AWS identity, or "storyous"
