"""Shared fixtures: an AWS account in moto built from template.yaml, and a configured tenant."""

import io
import logging
import os

# Logger and Metrics read these when loyalty_hub.observability is first imported, before any fixture.
os.environ["POWERTOOLS_SERVICE_NAME"] = "loyalty-hub"
os.environ["POWERTOOLS_METRICS_NAMESPACE"] = "LoyaltyHub"
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-central-1")

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from moto import mock_aws

from loyalty_hub import warm
from loyalty_hub.models.tenant import Tenant
from loyalty_hub.observability import logger
from tests.support.doubles import LogCapture
from tests.support.stack import REGION, Stack, add_tenant, create_stack


def reset_caches() -> None:
    """Everything an execution environment keeps warm, as the package registers it (loyalty_hub.warm)."""
    warm.forget_all()


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
