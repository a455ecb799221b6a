"""Voyado worker: customer changes from its queue, looked up in Voyado at the shop's pace, enrichment
sent back through the ingest queue; failures retried or dead-lettered by the shared framework."""

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty_hub import aws, config, secrets
from loyalty_hub.dal import archive
from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.observability import logger, metrics
from loyalty_hub.vendors.voyado import Voyado, shop_bucket
from loyalty_hub.vendors.worker import handle


@cache
def _voyado() -> tuple[Voyado, config.VoyadoWorkerSettings]:
    settings = config.load(config.VoyadoWorkerSettings)
    dynamodb, sqs = aws.client("dynamodb"), aws.client("sqs")

    vendor = Voyado(
        TenantStore.from_settings(settings),
        CustomerStore(dynamodb, settings.CUSTOMERS_TABLE),
        lambda tenant_id, shop: shop_bucket(dynamodb, settings.RATE_LIMIT_TABLE, tenant_id, shop),
        lambda update: archive.enqueue_enrichment(sqs, settings.INGEST_QUEUE_URL, update),
        secrets.reader(settings, "voyado"),
    )
    return vendor, settings


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    vendor, settings = _voyado()
    return handle(
        event,
        vendor,
        queue_url=settings.VOYADO_QUEUE_URL,
        dlq_url=settings.VOYADO_DLQ_URL,
        max_receives=settings.VOYADO_MAX_RECEIVES,
        context=context,
    )
