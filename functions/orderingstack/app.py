"""OrderingStack worker: purchases posted as events with stable ids, the account read back for points and
card (through the ingest queue); failures retried or dead-lettered by the shared framework."""

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty_hub import aws, config, secrets
from loyalty_hub.dal import archive
from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.dal.vendor_ledger import VendorLedger
from loyalty_hub.observability import logger, metrics
from loyalty_hub.vendors.orderingstack import OrderingStack
from loyalty_hub.vendors.worker import handle


@cache
def _orderingstack() -> tuple[OrderingStack, config.OrderingStackWorkerSettings]:
    settings = config.load(config.OrderingStackWorkerSettings)
    dynamodb, sqs = aws.client("dynamodb"), aws.client("sqs")
    vendor = OrderingStack(
        TenantStore.from_settings(settings),
        CustomerStore(dynamodb, settings.CUSTOMERS_TABLE),
        VendorLedger(dynamodb, settings.VENDOR_LEDGER_TABLE, "orderingstack"),
        lambda update: archive.enqueue_enrichment(sqs, settings.INGEST_QUEUE_URL, update),
        secrets.reader(settings, "orderingstack"),
    )
    return vendor, settings


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    vendor, settings = _orderingstack()
    return handle(
        event,
        vendor,
        queue_url=settings.ORDERINGSTACK_QUEUE_URL,
        dlq_url=settings.ORDERINGSTACK_DLQ_URL,
        max_receives=settings.ORDERINGSTACK_MAX_RECEIVES,
        context=context,
    )
