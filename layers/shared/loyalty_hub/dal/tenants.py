"""Tenant configuration (TenantsTable), cached in memory for a short time per execution environment."""

import json
import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from loyalty_hub import aws
from loyalty_hub.config import TenantSettings
from loyalty_hub.dal.codec import from_item, to_item
from loyalty_hub.errors import ConfigurationError, NotFound, Unavailable
from loyalty_hub.models.tenant import Tenant

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_cache: dict[tuple[str, str], tuple[float, Tenant | None]] = {}


class TenantStore:
    def __init__(
        self,
        table: str,
        *,
        cache_seconds: int = 60,
        client: "DynamoDBClient | None" = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._table = table
        self._ttl = cache_seconds
        self._client = client or aws.client("dynamodb")
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: TenantSettings) -> "TenantStore":
        return cls(settings.TENANTS_TABLE, cache_seconds=settings.TENANT_CACHE_SECONDS)

    def get(self, tenant_id: str) -> Tenant:
        """The tenant, or NotFound; unknown ids are cached too so probing costs no extra reads."""
        now = self._clock()
        hit = _cache.get((self._table, tenant_id))
        if hit is not None and hit[0] > now:
            tenant = hit[1]
        else:
            tenant = self._load(tenant_id)
            _cache[(self._table, tenant_id)] = (now + self._ttl, tenant)
        if tenant is None:
            raise NotFound(f"unknown tenant {tenant_id}")
        return tenant

    def put(self, tenant: Tenant) -> None:
        item = json.loads(tenant.model_dump_json(), parse_float=Decimal)  # DynamoDB numbers are Decimal
        self._client.put_item(TableName=self._table, Item=to_item(item))
        _cache.pop((self._table, tenant.tenant_id), None)

    def list(self) -> list[Tenant]:
        paginator = self._client.get_paginator("scan")
        return [
            Tenant.model_validate(from_item(item))
            for page in paginator.paginate(TableName=self._table)
            for item in page.get("Items", [])
        ]

    def _load(self, tenant_id: str) -> Tenant | None:
        try:
            response = self._client.get_item(TableName=self._table, Key={"tenant_id": {"S": tenant_id}})
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable("tenant store unavailable") from exc
        if "Item" not in response:
            return None
        try:
            return Tenant.model_validate(from_item(response["Item"]))
        except ValidationError as exc:
            raise ConfigurationError(f"tenant {tenant_id} has an invalid configuration: {exc}") from exc


def clear_cache() -> None:
    _cache.clear()
