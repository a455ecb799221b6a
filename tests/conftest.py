"""Shared fixtures: an AWS account in moto built from template.yaml, and a configured tenant."""

import io
import json
import logging
import os

# Logger and Metrics read these when loyalty_hub.observability is first imported, before any fixture.
os.environ["POWERTOOLS_SERVICE_NAME"] = "loyalty-hub"
os.environ["POWERTOOLS_METRICS_NAMESPACE"] = "LoyaltyHub"
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-central-1")

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from loyalty_hub import aws, config
from loyalty_hub.dal import tenants
from loyalty_hub.logic import ingest, webhook
from loyalty_hub.models.tenant import Place, Tenant
from loyalty_hub.observability import logger
from loyalty_hub.secrets import secret_name
from tests.support import template

REGION = "eu-central-1"
SECRETS_PREFIX = "loyalty-hub/test/tenants"
MERCHANT = "60b6512e66943300381c2d24"
PLACE = "60b6512e66943300381c2d25"
OTHER_PLACE = "60b6512e66943300381c2d26"
WEBHOOK_SECRET = "demo-webhook-secret"


@dataclass(frozen=True)
class Stack:
    """Names of the resources of one test account, as the template's functions see them."""

    tenants_table: str = "Tenants"
    entities_table: str = "Entities"
    customers_table: str = "Customers"
    raw_bucket: str = "loyalty-hub-raw-test"
    ingest_queue_url: str = ""
    ingest_dlq_url: str = ""

    def env(self) -> dict[str, str]:
        return {
            "TENANTS_TABLE": self.tenants_table,
            "ENTITIES_TABLE": self.entities_table,
            "CUSTOMERS_TABLE": self.customers_table,
            "RAW_BUCKET": self.raw_bucket,
            "INGEST_QUEUE_URL": self.ingest_queue_url,
            "SECRETS_PREFIX": SECRETS_PREFIX,
        }


def reset_caches() -> None:
    """Everything an execution environment keeps warm: clients, settings, tenants, secrets."""
    aws.reset()
    config.load.cache_clear()
    webhook.default_deps.cache_clear()
    ingest.default_deps.cache_clear()
    tenants.clear_cache()
    parameters.clear_caches()


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    reset_caches()
    yield
    reset_caches()


def create_stack(names: Stack = Stack()) -> Stack:
    """Tables (keys, GSIs, streams) from template.yaml, the bucket, the FIFO queue with its DLQ."""
    ddb = boto3.client("dynamodb", region_name=REGION)
    for logical_id in template.tables():
        name = {
            "TenantsTable": names.tenants_table,
            "EntitiesTable": names.entities_table,
            "CustomersTable": names.customers_table,
        }[logical_id]
        ddb.create_table(**template.table_definition(logical_id, name))
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket=names.raw_bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    sqs = boto3.client("sqs", region_name=REGION)
    queue = template.resource("IngestQueue")["Properties"]
    dlq_url = sqs.create_queue(QueueName="ingest-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName="ingest.fifo",
        Attributes={
            "FifoQueue": "true",
            "VisibilityTimeout": str(queue["VisibilityTimeout"]),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": queue["RedrivePolicy"]["maxReceiveCount"]}
            ),
        },
    )["QueueUrl"]
    return Stack(names.tenants_table, names.entities_table, names.customers_table, names.raw_bucket, url, dlq_url)


def add_tenant(
    stack: Stack,
    tenant_id: str = MERCHANT,
    places: dict[str, Place] | None = None,
    secret: dict[str, Any] | None = None,
) -> Tenant:
    tenant = Tenant(
        tenant_id=tenant_id,
        name=f"Café {tenant_id[-4:]}",
        time_zone="Europe/Prague",
        places=places or {PLACE: Place(name="Náměstí"), OTHER_PLACE: Place(name="Nádraží")},
    )
    tenants.TenantStore(stack.tenants_table, client=boto3.client("dynamodb", region_name=REGION)).put(tenant)
    boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name=secret_name(SECRETS_PREFIX, tenant_id),
        SecretString=json.dumps(secret or {"storyous_webhook_secret": WEBHOOK_SECRET}),
    )
    return tenant


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with mock_aws():
        created = create_stack()
        for key, value in created.env().items():
            monkeypatch.setenv(key, value)
        yield created


@pytest.fixture
def tenant(stack: Stack) -> Tenant:
    return add_tenant(stack)


class FixedClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime = datetime(2024, 7, 12, 8, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


class LogCapture:
    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self._stream.getvalue().splitlines() if line.startswith("{")]

    def text(self) -> str:
        return self._stream.getvalue()


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    """The JSON lines Powertools Logger writes, as an operator would read them."""
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield LogCapture(buffer)
    handler.setStream(previous)


@pytest.fixture
def lambda_context() -> Any:
    @dataclass
    class Context:
        function_name: str = "test"
        function_version: str = "$LATEST"
        memory_limit_in_mb: int = 512
        invoked_function_arn: str = "arn:aws:lambda:eu-central-1:123456789012:function:test"
        aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"

        def get_remaining_time_in_millis(self) -> int:
            return 30_000

    return Context()
