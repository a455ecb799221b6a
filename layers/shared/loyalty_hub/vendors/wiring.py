"""The one wiring every vendor function shares: `handler(name)` is the Lambda handler of the vendor of
that name in models.vendors.VENDORS, built on first use by its module's `build(settings)` and run by
the shared worker (vendors.worker). functions/vendors/app.py exposes one per vendor."""

import importlib
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from loyalty_hub import aws, config, warm
from loyalty_hub.config import VendorWorkerSettings
from loyalty_hub.dal.vendor_ledger import LastSends
from loyalty_hub.errors import ConfigurationError
from loyalty_hub.models.vendors import VENDORS
from loyalty_hub.observability import logger, metrics
from loyalty_hub.vendors.worker import Vendor, handle


@warm.cached
def vendor(name: str) -> tuple[Vendor, VendorWorkerSettings]:
    settings = config.load(VendorWorkerSettings)
    for needed in (settings.VENDOR_QUEUES, settings.VENDOR_DEAD_LETTER_QUEUES):
        if name not in needed:
            raise ConfigurationError(f"VENDOR_QUEUES and VENDOR_DEAD_LETTER_QUEUES must name {name}")
    module = importlib.import_module(f"loyalty_hub.vendors.{VENDORS[name].module}")  # only this vendor's code
    built: Vendor = module.build(settings)
    return built, settings


@warm.cached
def last_sends(table: str) -> LastSends | None:
    """Where the worker notes each customer's last send for `admin trace` (VendorLedgerTable)."""
    return LastSends(aws.client("dynamodb"), table) if table else None


def handler(name: str) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    if name not in VENDORS:
        raise AttributeError(f"no vendor {name!r} in models.vendors.VENDORS")

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        worker, settings = vendor(name)
        return handle(
            event,
            worker,
            queue_url=settings.VENDOR_QUEUES[name],
            dlq_url=settings.VENDOR_DEAD_LETTER_QUEUES[name],
            max_receives=settings.VENDOR_MAX_RECEIVES,
            context=context,
            last_sends=last_sends(settings.VENDOR_LEDGER_TABLE),
        )

    return lambda_handler
