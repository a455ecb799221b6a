"""Put customers back on their vendors' queues from the customers table's current state.

Vendor messages only say "this customer changed" and vendors read the latest state when they send,
so a resend is always safe: it repairs a change that never reached a vendor (a capture failure, a
vendor that was down past its DLQ, a mapping fixed since) at the cost of a duplicate at worst.
"""

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.ledger import LedgerStore
from loyalty_hub.dal.queues import send_all
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.models import structs
from loyalty_hub.models.vendor_message import VendorMessage, messages
from loyalty_hub.rules.ledger import item_slots

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

PAGE = 100  # customers read (one BatchGetItem) and queued per step


@dataclass
class ResendDeps:
    tenants: TenantStore
    customers: CustomerStore
    ledger: LedgerStore  # each customer's bills
    sqs: "SQSClient"
    queues: Mapping[str, str]  # vendor -> queue url


@dataclass
class ResendReport:
    tenant_id: str
    vendors: list[str]
    customers: int = 0
    messages: dict[str, int] = field(default_factory=dict)  # vendor -> messages queued
    failed: dict[str, int] = field(default_factory=dict)  # vendor -> messages SQS did not take
    missing: list[str] = field(default_factory=list)  # asked-for customer ids the table does not hold


def resend(
    deps: ResendDeps,
    tenant_id: str,
    *,
    customer_ids: Iterable[str] | None = None,
    since: str | None = None,
    vendors: Iterable[str] | None = None,
    progress: Callable[[ResendReport], None] = lambda _: None,
) -> ResendReport:
    """Queues the tenant's customers (those named, else those updated at or after `since`, else all) for
    each of its enabled vendors (or the ones named) with every bill of their ledger."""
    tenant = deps.tenants.get(tenant_id)
    enabled = [v for v in tenant.vendors.enabled() if v in deps.queues]
    chosen = enabled if vendors is None else [v for v in enabled if v in set(vendors)]
    report = ResendReport(tenant_id, chosen, messages=dict.fromkeys(chosen, 0), failed=dict.fromkeys(chosen, 0))
    if not chosen:
        return report
    for page in _pages(deps, tenant_id, customer_ids, since, report):
        bodies = [structs.to_json(m) for m in page]
        for vendor in chosen:
            lost = send_all(deps.sqs, deps.queues[vendor], bodies)
            report.messages[vendor] += len(bodies) - lost
            report.failed[vendor] += lost
        progress(report)
    return report


def _pages(
    deps: ResendDeps, tenant_id: str, customer_ids: Iterable[str] | None, since: str | None, report: ResendReport
) -> Iterator[list[VendorMessage]]:
    if customer_ids is not None:
        wanted = sorted(set(customer_ids))
        chunks: Iterator[list[str]] = (wanted[i : i + PAGE] for i in range(0, len(wanted), PAGE))
    else:
        chunks = _chunked(deps.customers.changed_since(tenant_id, since or "0"))
    for ids in chunks:
        items = deps.customers.get_many(tenant_id, ids)
        report.missing += [cid for cid in ids if cid not in items]
        report.customers += len(items)
        yield [message for cid in sorted(items) for message in messages_for(deps.ledger, tenant_id, items[cid])]


def _chunked(ids: Iterable[str]) -> Iterator[list[str]]:
    chunk: list[str] = []
    for customer_id in ids:
        chunk.append(customer_id)
        if len(chunk) == PAGE:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def messages_for(ledger: LedgerStore, tenant_id: str, item: Mapping[str, Any]) -> list[VendorMessage]:
    """The customer with every bill of its ledger (one Query), over as many messages as they need."""
    customer_id = str(item["customer_id"])
    slots = item_slots(item, ledger.of_customer(tenant_id, customer_id))
    bills = sorted(b for b, slot in slots.items() if slot.entry is not None)
    return messages(tenant_id, customer_id, bills)
