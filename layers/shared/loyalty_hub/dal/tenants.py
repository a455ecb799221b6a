"""Tenant configuration (TenantsTable), cached in memory for a short time per execution environment."""

import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from loyalty_hub import aws, warm
from loyalty_hub.config import TenantSettings
from loyalty_hub.dal.codec import from_item, to_item
from loyalty_hub.errors import ConfigurationError, NotFound, Unavailable
from loyalty_hub.models import structs
from loyalty_hub.models.tenant import Tenant

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Bounded, least recently used first out: made-up ids from unauthenticated callers cannot grow it.
MAX_CACHED_TENANTS = 512
MAX_CACHED_UNKNOWN = 256
UNKNOWN_CACHE_SECONDS = 5.0  # a tenant created a moment ago is found soon; probing still costs a read per 5 s
_cache: "OrderedDict[tuple[str, str], tuple[float, Tenant]]" = OrderedDict()
_unknown: "OrderedDict[tuple[str, str], float]" = OrderedDict()


@dataclass(frozen=True)
class TenantList:
    """Every tenant item: those that read as a Tenant, and those that do not, so that one item edited by
    hand leaves the other tenants' scheduled work running."""

    tenants: list[Tenant] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)  # tenant id -> the field that does not fit, and why


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
        """The tenant, or NotFound. Known tenants are cached for the configured time, unknown ids for a
        few seconds; both caches are bounded."""
        key, now = (self._table, tenant_id), self._clock()
        hit = _cache.get(key)
        if hit is not None and hit[0] > now:
            _cache.move_to_end(key)
            return hit[1]
        unknown_until = _unknown.get(key)
        if unknown_until is not None and unknown_until > now:
            raise NotFound(f"unknown tenant {tenant_id[:64]}")
        tenant = self._load(tenant_id)
        if tenant is None:
            _remember(_unknown, key, now + min(self._ttl, UNKNOWN_CACHE_SECONDS), MAX_CACHED_UNKNOWN)
            raise NotFound(f"unknown tenant {tenant_id[:64]}")
        _unknown.pop(key, None)
        _remember(_cache, key, (now + self._ttl, tenant), MAX_CACHED_TENANTS)
        return tenant

    def put(self, tenant: Tenant) -> None:
        item = json.loads(structs.to_json(tenant), parse_float=Decimal)  # DynamoDB numbers are Decimal
        self._client.put_item(TableName=self._table, Item=to_item(item))
        _cache.pop((self._table, tenant.tenant_id), None)
        _unknown.pop((self._table, tenant.tenant_id), None)

    def list(self) -> TenantList:
        listed = TenantList()
        try:
            items = [
                i for page in self._client.get_paginator("scan").paginate(TableName=self._table) for i in page["Items"]
            ]
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable("tenant store unavailable") from exc
        for item in map(from_item, items):
            try:
                listed.tenants.append(structs.convert(Tenant, item))
            except structs.Invalid as exc:
                listed.unreadable[str(item.get("tenant_id"))[:64]] = structs.reason(exc)
        return listed

    def _load(self, tenant_id: str) -> Tenant | None:
        try:
            response = self._client.get_item(TableName=self._table, Key={"tenant_id": {"S": tenant_id}})
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable("tenant store unavailable") from exc
        if "Item" not in response:
            return None
        try:
            return structs.convert(Tenant, from_item(response["Item"]))
        except structs.Invalid as exc:
            raise ConfigurationError(f"tenant {tenant_id} has an invalid configuration: {exc}") from exc


def _remember[V](cache: "OrderedDict[tuple[str, str], V]", key: tuple[str, str], value: V, limit: int) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > limit:
        cache.popitem(last=False)


@warm.forgets
def clear_cache() -> None:
    _cache.clear()
    _unknown.clear()
