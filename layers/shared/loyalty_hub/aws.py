"""Lazily created, cached boto3 clients shared by all modules of one execution environment.

AWS_ENDPOINT_URL (honoured by boto3 itself) points every client at the local stack or moto.
"""

import threading
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
from botocore.config import Config

from loyalty_hub import warm

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

# Standard mode retries throttles and 5xx with full jitter; timeouts stay well under the Lambda timeout.
_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=3,
    read_timeout=10,
    tcp_keepalive=True,
)


@overload
def client(service: Literal["dynamodb"]) -> "DynamoDBClient": ...
@overload
def client(service: Literal["s3"]) -> "S3Client": ...
@overload
def client(service: Literal["sqs"]) -> "SQSClient": ...
@overload
def client(service: Literal["dynamodbstreams"]) -> Any: ...
def client(service: str) -> Any:
    return _client(service)


_LOCK = threading.Lock()  # a Session is not thread-safe; the local stack builds clients from threads


@cache
def _session() -> boto3.session.Session:
    # One Session for every client: each Session loads botocore's endpoint rules and partitions again.
    return boto3.session.Session()


@cache
def _client(service: str) -> Any:
    with _LOCK:
        return _session().client(service, config=_CONFIG)  # type: ignore[call-overload]


@warm.forgets
def reset() -> None:
    """Forget cached clients and their session (tests switch endpoints and credentials between cases)."""
    _client.cache_clear()
    _session.cache_clear()
