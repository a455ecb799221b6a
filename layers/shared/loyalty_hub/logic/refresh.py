"""Reconcile's Voyado refresh: customers whose Voyado enrichment is old, or missing, are queued for a
lookup, at most VOYADO_REFRESH_MAX_PER_TENANT per tenant and run, and only while the worker keeps up."""

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from loyalty_hub.dal import queues
from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.models import structs
from loyalty_hub.models.tenant import Tenant
from loyalty_hub.models.vendor_message import VendorMessage
from loyalty_hub.observability import logger, metric
from loyalty_hub.rules.lookups import wants_lookup

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

    from loyalty_hub.logic.reconcile import ReconcileDeps

REFRESH_PAGE = 100  # customer ids per index page: one BatchGetItem, and a time check, each
SQS_BATCH = queues.SQS_BATCH


class OutOfTime(Exception):
    """The run's time is nearly spent; the rest waits for the next run."""


@dataclass
class RefreshReport:
    queued: dict[str, int] = field(default_factory=dict)  # tenant -> Voyado lookups queued
    failed: int = 0
    tenants_failed: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)


def stale_customers(
    customers: CustomerStore, tenant_id: str, stale: Callable[[Mapping[str, Any]], bool], has_time: Callable[[], bool]
) -> Iterator[str]:
    """Ids of the tenant's customers for whom `stale` holds. Raises OutOfTime when a page would start too late."""
    names = {"#email": "email", "#en": "enrichment", "#v": "voyado"}
    for page in customers.pages(tenant_id, "customer_id, #email, #en.#v", names, REFRESH_PAGE):
        if not has_time():
            raise OutOfTime
        for item in sorted(page, key=lambda i: str(i["customer_id"])):
            if stale(item):
                yield str(item["customer_id"])


def refresh_voyado(
    deps: "ReconcileDeps", listed: list[Tenant], now: datetime, has_time: Callable[[], bool]
) -> RefreshReport:
    """Queues a Voyado lookup for each customer the worker's own rule finds due, per tenant of `listed`
    (reconcile's one scan) that uses Voyado, capped."""
    report = RefreshReport()
    settings = deps.settings
    queue_url = settings.VENDOR_QUEUES.get("voyado")
    tenants = [t for t in listed if "voyado" in t.vendors.enabled()]
    if not tenants or settings.VOYADO_REFRESH_MAX_PER_TENANT == 0:
        return report
    if queue_url is None:
        logger.error("tenants use Voyado but VENDOR_QUEUES has no voyado queue; enrichment is not refreshed")
        report.unfinished.append("voyado refresh: no voyado queue configured")
        return report
    # Customers queued earlier stay stale until the worker gets to them: queueing them again while the
    # worker is behind (Voyado slow or down) would only pile up duplicates.
    try:
        backlog: int | None = queues.depth(deps.sqs, queue_url)
    except Exception:
        logger.exception("could not read a queue's depth", extra={"queue": "voyado"})
        backlog = None
    if backlog is None or backlog >= settings.VOYADO_REFRESH_MAX_PER_TENANT:
        report.unfinished.append(f"voyado refresh: the voyado queue holds {backlog} messages; refresh waits")
        return report
    # The worker's own rule: a found answer older than the refresh age, a "not found" past its backoff.
    hours = settings.VOYADO_REFRESH_AGE_HOURS

    def stale_before(item: Mapping[str, Any]) -> bool:
        return wants_lookup(dict(item), now, refresh_hours=hours)

    for tenant in tenants:
        tenant_id = tenant.tenant_id
        if not has_time():
            report.unfinished.append(f"voyado refresh of tenant {tenant_id}: out of time")
            continue
        refresh = _Refresh(deps, queue_url, tenant_id)
        try:
            unfinished = refresh.run(stale_before, has_time)
        except Exception:
            logger.exception("voyado refresh failed for the tenant; the others go on", extra={"tenant": tenant_id})
            report.tenants_failed.append(tenant_id)
            unfinished = None
        report.queued[tenant_id] = refresh.queued
        report.failed += refresh.failed
        if unfinished:
            report.unfinished.append(f"voyado refresh of tenant {tenant_id}: {unfinished}")
        metric("VoyadoRefreshQueued", refresh.queued, tenant=tenant_id)
    return report


@dataclass
class _Refresh:
    """Voyado lookups queued for one tenant's stale customers, in batches of ten."""

    deps: "ReconcileDeps"
    queue_url: str
    tenant_id: str
    queued: int = 0
    failed: int = 0  # could not be queued even on a second try; the next run finds them stale again
    pending: list[str] = field(default_factory=list)

    def run(self, stale_before: Callable[[Mapping[str, Any]], bool], has_time: Callable[[], bool]) -> str | None:
        """Returns why the tenant was not finished, if it was not."""
        cap = self.deps.settings.VOYADO_REFRESH_MAX_PER_TENANT
        customers = CustomerStore(self.deps.dynamodb, self.deps.settings.CUSTOMERS_TABLE)
        unfinished: str | None = None
        try:
            for customer_id in stale_customers(customers, self.tenant_id, stale_before, has_time):
                self.pending.append(customer_id)
                if len(self.pending) == SQS_BATCH:
                    self._flush()
                if self.queued + self.failed + len(self.pending) >= cap:
                    unfinished = f"per-run cap of {cap} reached"
                    break
        except OutOfTime:
            unfinished = "out of time"
        if self.pending:
            self._flush()
        return unfinished

    def _flush(self) -> None:
        batch, self.pending = self.pending, []
        entries: list[SendMessageBatchRequestEntryTypeDef] = [
            {
                "Id": str(i),
                "MessageBody": structs.to_json(VendorMessage(tenant_id=self.tenant_id, customer_id=cid)),
            }
            for i, cid in enumerate(batch)
        ]
        lost = queues.send_batch(self.deps.sqs, self.queue_url, entries)
        if lost:
            logger.warning(
                "some Voyado refreshes could not be queued; the next run picks them up",
                extra={"tenant": self.tenant_id, "customer_ids": [batch[int(i)] for i in sorted(lost, key=int)]},
            )
        self.queued += len(batch) - len(lost)
        self.failed += len(lost)
