"""The message on every vendor queue."""

from collections.abc import Sequence
from typing import Final

from loyalty_hub.models.structs import Model, field

MAX_BILLS_PER_MESSAGE: Final = 2000  # a customer's bill ids over several messages: each far below SQS's 256 KiB


class VendorMessage(Model, frozen=True, kw_only=True):
    """A customer changed: the vendor reads its latest state when sending, so repeats are harmless."""

    tenant_id: str
    customer_id: str
    bill_ids: list[str] = field(default_factory=list)


def messages(tenant_id: str, customer_id: str, bill_ids: Sequence[str]) -> list[VendorMessage]:
    """The customer with these bills, over as many messages as they need (one when there are none)."""
    return [
        VendorMessage(
            tenant_id=tenant_id, customer_id=customer_id, bill_ids=list(bill_ids[i : i + MAX_BILLS_PER_MESSAGE])
        )
        for i in range(0, max(len(bill_ids), 1), MAX_BILLS_PER_MESSAGE)
    ]
