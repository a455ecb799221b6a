"""Reconcile, on a schedule: report what is stuck (dead letters, quarantine), redrive vendor dead
letters that are due (logic/redrive.py), resend the customers of failed capture batches, and queue
Voyado lookups for customers whose enrichment is old (logic/refresh.py).

A run is bounded by the time it has; whatever is left waits for the next run.
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from loyalty_hub import aws, config, warm
from loyalty_hub.config import ReconcileSettings
from loyalty_hub.dal import queues
from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.ledger import LedgerStore
from loyalty_hub.dal.quarantine import QuarantineStore
from loyalty_hub.dal.streams import customers_in_stream
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.errors import NotFound, Unavailable
from loyalty_hub.logic.capture_failures import customers_in_window
from loyalty_hub.logic.redrive import (
    MAX_RECEIVED_PER_QUEUE,
    RECEIVE_VISIBILITY_SECONDS,
    SQS_DEAD_LETTER_REASON,
    Redrive,
    RedriveCounts,
)
from loyalty_hub.logic.refresh import refresh_voyado
from loyalty_hub.logic.resend import ResendDeps, resend
from loyalty_hub.models.stream_failure import FailedBatch
from loyalty_hub.models.tenant import Tenant
from loyalty_hub.observability import logger, metric

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

__all__ = ["SQS_DEAD_LETTER_REASON", "ReconcileDeps", "ReconcileReport", "default_deps", "run"]


@dataclass
class ReconcileDeps:
    settings: ReconcileSettings
    sqs: "SQSClient"
    tenants: TenantStore
    dynamodb: "DynamoDBClient"  # the customers table: its index for ids, the items for enrichment
    streams: Any = None  # DynamoDB Streams, to read back the customers of a failed capture batch
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    # Long polling reaches every SQS server; short polling may answer "empty" while a small DLQ is not.
    receive_wait_seconds: int = 1

    @classmethod
    def from_settings(cls, settings: ReconcileSettings) -> "ReconcileDeps":
        return cls(
            settings,
            aws.client("sqs"),
            TenantStore.from_settings(settings),
            aws.client("dynamodb"),
            aws.client("dynamodbstreams"),
        )


@warm.cached
def default_deps() -> ReconcileDeps:
    return ReconcileDeps.from_settings(config.load(ReconcileSettings))


@dataclass
class ReconcileReport:
    depth: dict[str, int] = field(default_factory=dict)  # queue name -> messages, visible or not
    redrive: dict[str, RedriveCounts] = field(default_factory=dict)  # vendor -> what its dead letters got
    refresh_queued: dict[str, int] = field(default_factory=dict)  # tenant -> Voyado lookups queued
    refresh_failed: int = 0
    capture_failures_resent: int = 0  # failed stream batches whose customers went back to their vendors
    customers_resent: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)  # tenant -> records in quarantine
    tenants_failed: list[str] = field(default_factory=list)
    tenants_unreadable: dict[str, str] = field(default_factory=dict)  # tenant id -> why its item does not read
    unfinished: list[str] = field(default_factory=list)  # work left for the next run, and why

    def as_log(self) -> dict[str, Any]:
        return asdict(self)


def run(deps: ReconcileDeps, remaining_seconds: Callable[[], float]) -> ReconcileReport:
    """One scheduled run: depth first (before receiving hides anything), then redrive, then refresh."""
    settings = deps.settings
    report = ReconcileReport()

    def has_time() -> bool:
        return remaining_seconds() >= settings.RECONCILE_TIME_MARGIN_SECONDS

    now = deps.clock()
    watched = {**settings.VENDOR_DEAD_LETTER_QUEUES, **settings.WATCHED_QUEUES}
    for name, url in watched.items():
        try:
            report.depth[name] = depth = queues.depth(deps.sqs, url)
        except Exception:
            logger.exception("could not read a queue's depth", extra={"queue": name})
            continue
        metric("DeadLetterDepth", depth, queue=name)

    for vendor, dlq_url in settings.VENDOR_DEAD_LETTER_QUEUES.items():
        queue_url = settings.VENDOR_QUEUES.get(vendor)
        if queue_url is None:
            logger.error(
                "a vendor DLQ has no vendor queue to redrive into: add it to VENDOR_QUEUES",
                extra={"vendor": vendor},
            )
            report.unfinished.append(f"{vendor} dead letters: no vendor queue configured")
            continue
        redrive = Redrive(deps.sqs, settings, deps.receive_wait_seconds, vendor, dlq_url, queue_url)
        unfinished = redrive.run(now, has_time)
        counts = report.redrive[vendor] = redrive.counts
        if unfinished:
            report.unfinished.append(f"{vendor} dead letters: {unfinished}")
        metric("Redriven", counts.redriven, vendor=vendor)
        metric("RedriveExhausted", counts.exhausted, vendor=vendor)
        metric("NeedsAttention", counts.needs_attention, vendor=vendor)

    listed = deps.tenants.list()  # one scan for every step below
    _resend_capture_failures(deps, report, has_time, [t.tenant_id for t in listed.tenants])
    _quarantine_depth(deps, report, listed.tenants)
    _unreadable_tenants(report, listed.unreadable)
    refreshed = refresh_voyado(deps, listed.tenants, now, has_time)
    report.refresh_queued, report.refresh_failed = refreshed.queued, refreshed.failed
    report.tenants_failed += refreshed.tenants_failed
    report.unfinished += refreshed.unfinished

    if report.unfinished:
        logger.info("reconcile stopped early; what is left waits for the next run", extra=report.as_log())
    else:
        logger.info("reconcile done", extra=report.as_log())
    return report


def _quarantine_depth(deps: ReconcileDeps, report: ReconcileReport, tenants: list[Tenant]) -> None:
    """Records ingest could not store, per tenant and in all (the alarm watches the total)."""
    if not deps.settings.QUARANTINE_TABLE:
        return
    store = QuarantineStore(deps.dynamodb, deps.settings.QUARANTINE_TABLE)
    for tenant in tenants:
        try:
            count = store.count(tenant.tenant_id)
        except Exception:
            logger.exception("could not count the tenant's quarantine", extra={"tenant": tenant.tenant_id})
            continue
        if count:
            report.quarantined[tenant.tenant_id] = count
            metric("QuarantineDepth", count, tenant=tenant.tenant_id)
    metric("QuarantineDepth", sum(report.quarantined.values()))


def _unreadable_tenants(report: ReconcileReport, unreadable: dict[str, str]) -> None:
    """Tenant items that do not read as a configuration (edited by hand): every job skips them."""
    report.tenants_unreadable = unreadable
    if report.tenants_unreadable:
        logger.error(
            "tenant configurations do not read; every job skips these tenants until each item is fixed "
            "('loyalty-hub list' names the field)",
            extra={"tenants": report.tenants_unreadable},
        )
    metric("UnreadableTenants", len(report.tenants_unreadable))


def _resend_capture_failures(
    deps: ReconcileDeps, report: ReconcileReport, has_time: Callable[[], bool], tenant_ids: list[str]
) -> None:
    """Each failed stream batch: its customers resent from the table to every enabled vendor, then the
    failure record deleted. One that cannot be finished stays for the next run. `tenant_ids`: where to
    look for a batch the stream no longer holds."""
    url = deps.settings.CAPTURE_FAILURE_QUEUE_URL
    if not url:
        return
    customers = CustomerStore(deps.dynamodb, deps.settings.CUSTOMERS_TABLE)
    ledger = LedgerStore(deps.dynamodb, deps.settings.ENTITIES_TABLE)
    resend_deps = ResendDeps(deps.tenants, customers, ledger, deps.sqs, deps.settings.VENDOR_QUEUES)
    for _ in range(MAX_RECEIVED_PER_QUEUE // queues.SQS_BATCH):
        if not has_time():
            report.unfinished.append("capture failures: out of time")
            return
        messages = queues.receive(deps.sqs, url, visibility=RECEIVE_VISIBILITY_SECONDS, wait=deps.receive_wait_seconds)
        if not messages:
            return
        for message in messages:
            try:
                resent = _resend_batch(deps, resend_deps, message["Body"], tenant_ids)
            except Exception:
                logger.exception("could not resend a capture failure; it stays for the next run")
                continue
            if resent is None:
                logger.error("a capture failure record that names no stream batch stays for a person")
                continue
            report.capture_failures_resent += 1
            report.customers_resent += resent
            queues.delete(deps.sqs, url, message["ReceiptHandle"])
    report.unfinished.append(f"capture failures: per-run cap of {MAX_RECEIVED_PER_QUEUE} reached")


def _resend_batch(deps: ReconcileDeps, resend_deps: ResendDeps, body: str, tenant_ids: list[str]) -> int | None:
    batch = FailedBatch.parse(body)
    if batch is None:
        return None
    found = customers_in_stream(deps.streams, batch)
    if found is None:
        found = customers_in_window(resend_deps.customers, tenant_ids, batch)
    resent = 0
    for tenant_id, customer_ids in sorted(found.items()):
        try:
            outcome = resend(resend_deps, tenant_id, customer_ids=customer_ids)
        except NotFound:
            continue  # a tenant deleted since: nothing to send it
        if any(outcome.failed.values()):
            raise Unavailable(f"SQS refused {sum(outcome.failed.values())} resend message(s)")
        resent += outcome.customers
    logger.info("capture failure resent", extra={"shard": batch.shard_id, "customers": resent})
    return resent
