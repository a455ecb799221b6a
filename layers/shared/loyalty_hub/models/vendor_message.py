"""The message on every vendor queue."""

from pydantic import BaseModel, Field


class VendorMessage(BaseModel):
    """A customer changed: the vendor reads its latest state when sending, so repeats are harmless."""

    tenant_id: str
    customer_id: str
    bill_ids: list[str] = Field(default_factory=list)
