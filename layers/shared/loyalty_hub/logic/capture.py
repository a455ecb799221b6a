"""Change capture: a customer item changed in DynamoDB (its stream) -> one message per enabled vendor.

Records that change nothing a vendor sees (the same view, the same bills) are dropped here. Messages
carry only ids; vendor workers read the latest state when they send, so duplicates are harmless.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loyalty_hub import aws, config, warm
from loyalty_hub.config import CaptureSettings
from loyalty_hub.dal import queues
from loyalty_hub.dal.codec import from_item
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.errors import Unavailable
from loyalty_hub.models import structs
from loyalty_hub.models.customer import VIEW_FIELDS
from loyalty_hub.models.vendor_message import VendorMessage, messages
from loyalty_hub.models.vendors import VENDORS

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


@dataclass
class CaptureDeps:
    tenants: TenantStore
    sqs: "SQSClient"
    queues: Mapping[str, str]

    @classmethod
    def from_settings(cls, settings: CaptureSettings) -> "CaptureDeps":
        return cls(
            TenantStore.from_settings(settings),
            aws.client("sqs"),
            settings.VENDOR_QUEUES,
        )


@warm.cached
def default_deps() -> CaptureDeps:
    return CaptureDeps.from_settings(config.load(CaptureSettings))


@dataclass(frozen=True)
class Change:
    messages: list[VendorMessage]  # one, or more for a change of more bills than a message carries
    fields: frozenset[str]  # the view fields that changed, and "bills" when bills did


def image(raw: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A stream record's image (DynamoDB's attribute-value JSON) as plain values, or None."""
    return from_item(dict(raw)) if raw else None


def vendor_message(new: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> Change | None:
    """What vendors must hear about this change of a customer item, or None."""
    if not new or "customer_id" not in new:
        return None  # a removal, or an item that is not a customer
    before = old or {}
    bills = sorted(new.get("bills_changed") or ())  # each write names the bills it changed (D50)
    fields = {name for name in (*VIEW_FIELDS, "erased") if new.get(name) != before.get(name)}
    fields |= {"bills"} if bills else set()
    if not fields:
        return None
    return Change(messages(new["tenant_id"], new["customer_id"], bills), frozenset(fields))


def fan_out(deps: CaptureDeps, change: Change) -> list[str]:
    """Queues the change for every vendor the tenant has enabled that cares; returns those vendors."""
    vendors = [
        v
        for v in deps.tenants.get(change.messages[0].tenant_id).vendors.enabled()
        if v in deps.queues
        and not change.fields <= VENDORS[v].ignores
        and ((wants := VENDORS[v].wants) is None or change.fields & wants)
    ]
    bodies = [structs.to_json(message) for message in change.messages]
    for vendor in vendors:
        try:
            for body in bodies:
                queues.send(deps.sqs, deps.queues[vendor], body)
        except Exception as exc:
            raise Unavailable(f"could not queue the change for {vendor}") from exc
    return vendors
