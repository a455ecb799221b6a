"""Change capture: a customer item changed in DynamoDB (its stream) -> one message per enabled vendor.

Records that change nothing a vendor sees (the same view, the same bills) are dropped here. Messages
carry only ids; vendor workers read the latest state when they send, so duplicates are harmless.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import orjson

from loyalty_hub import aws, config
from loyalty_hub.config import CaptureSettings
from loyalty_hub.dal import queues
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.errors import Unavailable
from loyalty_hub.models.customer import VIEW_FIELDS
from loyalty_hub.models.vendor_message import VendorMessage

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


@cache
def default_deps() -> CaptureDeps:
    return CaptureDeps.from_settings(config.load(CaptureSettings))


# Changes a vendor does not need to hear about: a vendor's own enrichment (points) must not trigger the
# call that produced it.
IGNORED_BY: Mapping[str, frozenset[str]] = {"voyado": frozenset({"points"}), "orderingstack": frozenset({"points"})}
# A vendor that only reads, by an identifier, hears only of changes to it: Voyado is asked by email (or
# its own contact id), so a bill, a name or a consent changes nothing it could answer. Its answers age
# out through reconcile's refresh instead.
ONLY_FOR: Mapping[str, frozenset[str]] = {"voyado": frozenset({"email"})}


@dataclass(frozen=True)
class Change:
    message: VendorMessage
    fields: frozenset[str]  # the view fields that changed, and "bills" when bills did


def vendor_message(new: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> Change | None:
    """What vendors must hear about this change of a customer item, or None."""
    if not new or "customer_id" not in new:
        return None  # a removal, or an item that is not a customer
    before = old or {}
    new_ledger = orjson.loads(new.get("ledger") or "{}")
    old_ledger = orjson.loads(before.get("ledger") or "{}")
    bills = sorted(b for b in new_ledger.keys() | old_ledger.keys() if new_ledger.get(b) != old_ledger.get(b))
    fields = {name for name in VIEW_FIELDS if new.get(name) != before.get(name)} | ({"bills"} if bills else set())
    if not fields:
        return None
    message = VendorMessage(tenant_id=new["tenant_id"], customer_id=new["customer_id"], bill_ids=bills)
    return Change(message, frozenset(fields))


def fan_out(deps: CaptureDeps, change: Change) -> list[str]:
    """Queues the change for every vendor the tenant has enabled that cares; returns those vendors."""
    message = change.message
    vendors = [
        v
        for v in deps.tenants.get(message.tenant_id).vendors.enabled()
        if v in deps.queues
        and not change.fields <= IGNORED_BY.get(v, frozenset())
        and (v not in ONLY_FOR or change.fields & ONLY_FOR[v])
    ]
    body = message.model_dump_json()
    for vendor in vendors:
        try:
            queues.send(deps.sqs, deps.queues[vendor], body)
        except Exception as exc:
            raise Unavailable(f"could not queue the change for {vendor}") from exc
    return vendors
