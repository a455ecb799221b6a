"""Ingest: applies archived DataSync deliveries from the FIFO ingest queue, reporting partial failures."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty_hub import partial
from loyalty_hub.logic.ingest import apply_enrichment, apply_erasure, default_deps, ingest_delivery
from loyalty_hub.models.enrichment import EnrichmentUpdate
from loyalty_hub.models.erasure import ErasureRequest
from loyalty_hub.models.ingest_message import parse_ingest_message
from loyalty_hub.observability import logger, metrics


@contextmanager
def _failure(metric: str, message: str, keys: dict[str, Any]) -> Iterator[None]:
    """A failing message is counted and logged with what happens next, then raised for SQS to retry."""
    try:
        yield
    except Exception:
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
        logger.exception(message, extra=keys)
        raise


def record_handler(record: partial.Record) -> None:
    message = parse_ingest_message(record["body"])
    if isinstance(message, EnrichmentUpdate):
        apply_enrichment_update(message)
        return
    if isinstance(message, ErasureRequest):
        apply_erasure_request(message)
        return
    pointer = message
    keys = {
        "tenant": pointer.tenant_id,
        "place": pointer.place_id,
        "domain": pointer.domain,
        "delivery_id": pointer.delivery_id,
        "s3_key": pointer.key,
    }
    with _failure("DeliveriesFailed", "delivery failed; SQS retries it, then moves it to the ingest DLQ", keys):
        report = ingest_delivery(default_deps(), pointer)
    if report.duplicate:
        logger.info("delivery applied before; skipped", extra=keys)
        metrics.add_metric(name="DuplicateDeliveries", unit=MetricUnit.Count, value=1)
        return
    if report.quarantined:
        logger.warning(
            "records quarantined, the rest of the delivery stored: see 'admin quarantine list', fix, then retry",
            extra={**keys, **asdict(report)},
        )
        metrics.add_metric(name="EntitiesQuarantined", unit=MetricUnit.Count, value=report.quarantined)
    else:
        logger.info("delivery ingested", extra={**keys, **asdict(report)})
    if report.repaired:
        # Self-healing: an earlier attempt died between a customer's ledger and its summary (D50).
        logger.warning("customer summaries rebuilt from their ledgers", extra={**keys, "customers": report.repaired})
        metrics.add_metric(name="CustomerSummariesRebuilt", unit=MetricUnit.Count, value=report.repaired)
    if report.resolved:
        metrics.add_metric(name="QuarantineResolved", unit=MetricUnit.Count, value=report.resolved)
    metrics.add_metric(name="EntitiesWritten", unit=MetricUnit.Count, value=report.written)
    metrics.add_metric(name="StaleEntitiesSkipped", unit=MetricUnit.Count, value=report.stale)
    metrics.add_metric(name="CustomersChanged", unit=MetricUnit.Count, value=report.customers_changed)
    if report.without_id:
        logger.warning("entities without a known id field were stored under a content hash", extra=keys)
        metrics.add_metric(name="EntitiesWithoutId", unit=MetricUnit.Count, value=report.without_id)
    if not report.known_domain:
        metrics.add_metric(name="UnknownDomainEntities", unit=MetricUnit.Count, value=report.received)


def apply_enrichment_update(update: EnrichmentUpdate) -> None:
    keys = {"tenant": update.tenant_id, "vendor": update.vendor}
    with _failure("EnrichmentsFailed", "enrichment failed; SQS retries it, then moves it to the ingest DLQ", keys):
        changed = apply_enrichment(default_deps(), update)
    logger.info("enrichment applied", extra={**keys, "changed": changed})
    metrics.add_metric(name="EnrichmentsApplied", unit=MetricUnit.Count, value=1)


def apply_erasure_request(request: ErasureRequest) -> None:
    keys = {"tenant": request.tenant_id, "request_id": request.request_id, "reason": request.reason}
    with _failure(
        "ErasuresFailed", "erasure failed; SQS retries it (each step is idempotent), then the ingest DLQ", keys
    ):
        report = apply_erasure(default_deps(), request)
    logger.info("customer erased", extra={**keys, **asdict(report)})
    metrics.add_metric(name="ErasuresDone", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> partial.Failures:
    # A failed delivery holds back only later deliveries of the same tenant (message group), not others.
    return partial.fifo_queue(event["Records"], record_handler)
