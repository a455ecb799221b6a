"""The message on every vendor queue."""

from loyalty_hub.models.structs import Model, field


class VendorMessage(Model, frozen=True, kw_only=True):
    """A customer changed: the vendor reads its latest state when sending, so repeats are harmless."""

    tenant_id: str
    customer_id: str
    bill_ids: list[str] = field(default_factory=list)
