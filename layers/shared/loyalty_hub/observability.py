"""Logger and metrics, created once; configured by POWERTOOLS_* variables from the template Globals.

Tracer is left out on purpose: it imports aws-xray-sdk (~260 ms of cold start) for traces we do not read.
"""

from aws_lambda_powertools import Logger, Metrics

logger = Logger()  # POWERTOOLS_SERVICE_NAME, POWERTOOLS_LOG_LEVEL
metrics = Metrics()  # POWERTOOLS_METRICS_NAMESPACE
