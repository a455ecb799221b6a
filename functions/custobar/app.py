"""Custobar worker: customer changes from its queue, uploaded per tenant, failures retried or dead-lettered."""

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty_hub import aws, config, secrets
from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.entities import EntityStore
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.observability import logger, metrics
from loyalty_hub.vendors.custobar import Custobar
from loyalty_hub.vendors.worker import handle


@cache
def _custobar() -> tuple[Custobar, config.CustobarWorkerSettings]:
    settings = config.load(config.CustobarWorkerSettings)
    dynamodb = aws.client("dynamodb")
    vendor = Custobar(
        TenantStore.from_settings(settings),
        CustomerStore(dynamodb, settings.CUSTOMERS_TABLE),
        EntityStore(dynamodb, settings.ENTITIES_TABLE),
        secrets.reader(settings, "custobar"),
    )
    return vendor, settings


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    vendor, settings = _custobar()
    return handle(
        event,
        vendor,
        queue_url=settings.CUSTOBAR_QUEUE_URL,
        dlq_url=settings.CUSTOBAR_DLQ_URL,
        max_receives=settings.CUSTOBAR_MAX_RECEIVES,
        context=context,
    )
