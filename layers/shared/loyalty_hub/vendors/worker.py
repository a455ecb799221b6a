"""The worker every vendor shares: an SQS batch in, grouped per tenant, delivered, each message's fate out.

- success: the message is done;
- a deferral (our pacing, a vendor's Retry-After or 429, a run short of time): the message is sent
  again with that delay and its attempts unchanged, and the received copy is done, so waiting never
  counts towards the DLQ;
- RetryableError (network, timeout, 5xx): the message is made visible again after exponential backoff
  with full jitter and reported as a batch item failure; the function never sleeps;
- PermanentError (other 4xx, or a record that cannot be mapped), or the last allowed attempt: the
  message goes to the vendor's DLQ with the reason as message attributes, and an ERROR line says what
  to do. A vendor reports errors per message, so one refused record fails alone.

Attempts are counted across deferrals: a re-sent message carries the attempts made so far.
"""

import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit

from loyalty_hub import aws
from loyalty_hub.dal.vendor_ledger import LastSends
from loyalty_hub.errors import NotFound
from loyalty_hub.models import structs
from loyalty_hub.models.vendor_message import VendorMessage
from loyalty_hub.observability import logger, metrics
from loyalty_hub.remote.errors import CredentialsRefused, PermanentError, RetryableError, VendorError, deferred
from loyalty_hub.vendors.fates import Fates, Outcome, attempts_so_far, vendor_metric

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from loyalty_hub.dal.tenants import TenantStore
    from loyalty_hub.models.tenant import Tenant

# Work stops this long before the function's timeout: one vendor request (connect 3 s + read 10 s,
# vendors.http.TIMEOUT) and the deferral sends still fit.
TIME_MARGIN_SECONDS = 15.0


class Vendor(Protocol):
    name: str

    def deliver(
        self, tenant_id: str, messages: Sequence[VendorMessage], *, time_left: Callable[[], float]
    ) -> Mapping[int, VendorError] | None:
        """Send the latest state of these customers (one tenant). Raise VendorError when the whole group
        failed; return {index: error} for messages that failed on their own. Start nothing once
        `time_left()` is not positive: defer the rest (`errors.deferred`)."""


def tenant_vendor_settings(tenants: "TenantStore", tenant_id: str, vendor: str) -> tuple["Tenant", Any] | None:
    """The tenant and its settings for `vendor`, or None when it is not enabled (its changes are dropped)."""
    try:
        tenant = tenants.get(tenant_id)
    except NotFound as exc:
        raise PermanentError(f"unknown tenant {tenant_id}") from exc
    settings = getattr(tenant.vendors, vendor)
    if settings is None or not settings.enabled:
        logger.info(f"{vendor} is not enabled for the tenant; changes dropped", extra={"tenant": tenant_id})
        return None
    return tenant, settings


def handle(
    event: dict[str, Any],
    vendor: Vendor,
    *,
    queue_url: str,
    dlq_url: str,
    max_receives: int,
    context: Any,
    margin_seconds: float = TIME_MARGIN_SECONDS,
    last_sends: LastSends | None = None,
) -> dict[str, Any]:
    """A vendor function's whole body: the batch through the framework, its outcome logged and counted."""
    outcome = process_batch(
        event,
        vendor,
        sqs=aws.client("sqs"),
        queue_url=queue_url,
        dlq_url=dlq_url,
        max_receives=max_receives,
        time_left=lambda: context.get_remaining_time_in_millis() / 1000 - margin_seconds,
        last_sends=last_sends,
    )
    metrics.add_metric(name="VendorBatches", unit=MetricUnit.Count, value=1)
    logger.info(
        f"{vendor.name} batch done",
        extra={
            "sent": outcome.sent,
            "retried": outcome.retried,
            "deferred": outcome.deferred,
            "dead_lettered": outcome.dead_lettered,
        },
    )
    return outcome.response()


def process_batch(
    event: dict[str, Any],
    vendor: Vendor,
    *,
    sqs: "SQSClient",
    queue_url: str,
    dlq_url: str,
    max_receives: int,
    clock: Callable[[], float] = time.monotonic,
    time_left: Callable[[], float] = lambda: float("inf"),
    last_sends: LastSends | None = None,
) -> Outcome:
    """`time_left`: seconds this invocation may still start work in; at 0 the rest is deferred unprocessed.
    `last_sends`: where each customer's fate is noted for `admin trace`, in one batched write at the end."""
    outcome = Outcome()
    fates = Fates(sqs, queue_url, dlq_url, vendor.name, max_receives, outcome)
    groups: dict[str, list[tuple[dict[str, Any], VendorMessage]]] = defaultdict(list)
    for record in event["Records"]:
        try:
            message = structs.decode(VendorMessage, record["body"])
        except structs.Malformed as exc:
            fates.dead_letter(record, PermanentError(f"malformed message: {structs.reason(exc)}"))
            continue
        groups[message.tenant_id].append((record, message))

    for tenant_id, items in groups.items():
        started = clock()
        errors = _deliver(vendor, tenant_id, [message for _, message in items], time_left)
        for index, (record, message) in enumerate(items):
            if index in errors:
                fates.fail(tenant_id, record, errors[index], message.customer_id)
            else:
                fates.note(tenant_id, message.customer_id, "sent", attempts_so_far(record) + 1)
        _count(vendor.name, tenant_id, len(items), errors, outcome=outcome, elapsed_ms=(clock() - started) * 1000)
    fates.flush_deferred()
    if last_sends is not None and fates.sends:
        try:
            last_sends.note(vendor.name, fates.sends)
        except Exception:  # a trace aid: its failure must not send the batch again
            logger.exception("could not note the batch's last sends for admin trace", extra={"vendor": vendor.name})
    return outcome


def _deliver(
    vendor: Vendor, tenant_id: str, messages: list[VendorMessage], time_left: Callable[[], float]
) -> Mapping[int, VendorError]:
    """The vendor's answer for one tenant's messages; out of time or an unexpected error fails them all."""
    if time_left() <= 0:
        return dict.fromkeys(range(len(messages)), deferred("out of time"))
    try:
        return vendor.deliver(tenant_id, messages, time_left=time_left) or {}
    except Exception as exc:
        error = exc if isinstance(exc, VendorError) else RetryableError(f"{type(exc).__name__}: {exc}")
        return dict.fromkeys(range(len(messages)), error)


def _count(
    vendor: str, tenant_id: str, total: int, errors: Mapping[int, VendorError], *, outcome: Outcome, elapsed_ms: float
) -> None:
    delivered = total - len(errors)
    outcome.sent += delivered
    failed = sum(1 for e in errors.values() if not (isinstance(e, RetryableError) and e.deferral))
    if failed:
        vendor_metric(vendor, tenant_id, "Failed", failed)
    if any(isinstance(e, CredentialsRefused) for e in errors.values()):
        vendor_metric(vendor, "", "AuthFailed", 1)  # once per tenant and batch: the alarm's metric
        logger.error(
            f"{vendor} refused the tenant's credentials: fix its secret; messages are kept and retried",
            extra={"vendor": vendor, "tenant": tenant_id},
        )
    if delivered:
        vendor_metric(vendor, tenant_id, "Sent", delivered)
        vendor_metric(vendor, tenant_id, "LatencyMs", elapsed_ms, MetricUnit.Milliseconds)
