"""Logger and metrics, created once; configured by POWERTOOLS_* variables from the template Globals.

Tracer is left out on purpose: it imports aws-xray-sdk (~260 ms of cold start) for traces we do not read.
"""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

logger = Logger()  # POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL
metrics = Metrics()  # POWERTOOLS_METRICS_NAMESPACE


def metric(name: str, value: float, unit: MetricUnit = MetricUnit.Count, **dimensions: str) -> None:
    """One metric with its own dimensions (empty ones left out), flushed at once: per-vendor, per-tenant
    or per-queue figures cannot share the invocation's dimension set."""
    if is_metrics_disabled():  # single_metric ignores POWERTOOLS_METRICS_DISABLED; Metrics() honours it
        return
    with single_metric(name=name, unit=unit, value=value) as emitted:
        for dimension, dimension_value in dimensions.items():
            if dimension_value:
                emitted.add_dimension(name=dimension, value=dimension_value)
