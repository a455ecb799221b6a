"""DailyStory's Basic Integration Pattern: one customer by id, and customers changed since a time."""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from loyalty_hub import aws, config, secrets, warm
from loyalty_hub.auth import DAILYSTORY_KEY_HASHES, api_credentials, key_matches
from loyalty_hub.config import CustomerApiSettings
from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.snapshots import SnapshotStore
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.errors import BadRequest, NotFound, Unauthorized
from loyalty_hub.models.customer import DAILYSTORY_FIELDS, CustomerRecord, CustomersPage, number
from loyalty_hub.models.tenant import Tenant
from loyalty_hub.observability import logger
from loyalty_hub.rules.timestamps import format_timestamp, parse_timestamp

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SERVED_ATTRIBUTES = ("customer_id", "updated_at", "erased", *(f for f in DAILYSTORY_FIELDS if f != "id"))
# The list route's query parameters; `make openapi` writes them into the OpenAPI document.
LIMIT_DEFAULT, LIMIT_MAX = 25, 500
START_MAX = 10_000_000
LAST_UPDATED_MAX_LENGTH = 64
_INTEGER = re.compile(r"[+-]?\d{1,12}")


@dataclass(frozen=True)
class ListQuery:
    last_updated: str | None = None
    start: int = 0
    limit: int = LIMIT_DEFAULT

    @classmethod
    def read(cls, query: Mapping[str, str]) -> "ListQuery":
        """The list route's parameters, checked; a BadRequest names the first one that is wrong."""
        last_updated = query.get("last_updated")
        if last_updated is not None and len(last_updated) > LAST_UPDATED_MAX_LENGTH:
            raise BadRequest(f"last_updated: String should have at most {LAST_UPDATED_MAX_LENGTH} characters")
        return cls(
            last_updated,
            _integer(query, "start", 0, 0, START_MAX),
            _integer(query, "limit", LIMIT_DEFAULT, 1, LIMIT_MAX),
        )


def _integer(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    if not _INTEGER.fullmatch(text.strip()):
        raise BadRequest(f"{name}: Input should be a valid integer")
    value = int(text)
    if value < low:
        raise BadRequest(f"{name}: Input should be greater than or equal to {low}")
    if value > high:
        raise BadRequest(f"{name}: Input should be less than or equal to {high}")
    return value


@dataclass
class CustomerApiDeps:
    tenants: TenantStore
    customers: CustomerStore
    snapshots: SnapshotStore
    secrets: Callable[[str], dict[str, Any]]

    @classmethod
    def from_settings(cls, settings: CustomerApiSettings) -> "CustomerApiDeps":
        return cls(
            tenants=TenantStore.from_settings(settings),
            customers=CustomerStore(aws.client("dynamodb"), settings.CUSTOMERS_TABLE),
            snapshots=SnapshotStore(
                aws.client("s3"), settings.SNAPSHOT_BUCKET, ttl_seconds=settings.SNAPSHOT_TTL_SECONDS
            ),
            secrets=secrets.reader(settings, "dailystory"),
        )


@warm.cached
def default_deps() -> CustomerApiDeps:
    return CustomerApiDeps.from_settings(config.load(CustomerApiSettings))


def authenticate(deps: CustomerApiDeps, authorization: str | None) -> Tenant:
    """The tenant whose DailyStory key this is; every failure looks the same to the caller."""
    credentials = api_credentials(authorization)
    if credentials is None:
        raise Unauthorized("missing or malformed credentials: use Basic or Bearer")
    try:
        tenant = deps.tenants.get(credentials.tenant_id)
    except NotFound as exc:
        raise Unauthorized("invalid credentials") from exc
    hashes = deps.secrets(tenant.tenant_id).get(DAILYSTORY_KEY_HASHES) or []
    if not key_matches(credentials.key, hashes):
        raise Unauthorized("invalid credentials")
    return tenant


def get_customer(deps: CustomerApiDeps, tenant: Tenant, customer_id: str) -> CustomerRecord:
    item = deps.customers.get(tenant.tenant_id, customer_id)
    if item is None or item.get("erased"):
        raise NotFound(f"No customer found for id {customer_id}")
    return to_record(item, tenant.zone)


def list_customers(deps: CustomerApiDeps, tenant: Tenant, query: ListQuery) -> CustomersPage:
    last_updated, start, limit = query.last_updated, query.start, query.limit
    since = format_timestamp(parse_last_updated(last_updated, tenant.zone) if last_updated else EPOCH)
    # start=0 begins a sync: always a fresh snapshot. Later pages reuse it while it lives.
    snapshot = deps.snapshots.get(tenant.tenant_id, since) if start > 0 else None
    if snapshot is None:
        snapshot = deps.snapshots.put(tenant.tenant_id, since, deps.customers.changed_since(tenant.tenant_id, since))
        logger.info("sync snapshot taken", extra={"since": since, "records": snapshot.count, "start": start})
    ids = deps.snapshots.page(tenant.tenant_id, since, snapshot, start, limit)
    items = deps.customers.records(tenant.tenant_id, ids, SERVED_ATTRIBUTES)
    # An erased customer leaves the index (dal.customers); one still in a live snapshot is left out here.
    records = [to_record(item, tenant.zone) for item in items if not item.get("erased")]
    return CustomersPage(count=snapshot.count, start=start, limit=limit, records=records)


def to_record(item: dict[str, Any], zone: ZoneInfo) -> CustomerRecord:
    # The hub's own item: built, not validated (its numbers are DynamoDB's Decimals, served as numbers).
    values: dict[str, Any] = {
        name: number(value) if isinstance(value, Decimal) else value
        for name in DAILYSTORY_FIELDS
        if (value := item.get(name)) is not None
    }
    values["id"] = item["customer_id"]
    values["last_updated"] = parse_timestamp(item["updated_at"]).astimezone(zone).isoformat()
    return CustomerRecord(**values)


# "2024-07-01T10:00:00 02:00": a '+' in a query string that nobody encoded arrives as a space.
_SPACE_FOR_PLUS = re.compile(r"^(?P<time>.+T\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (?P<offset>\d\d:?\d\d)$")


def parse_last_updated(value: str, zone: ZoneInfo) -> datetime:
    """ISO-8601 with an offset, `Z`, or no zone (the tenant's); also DailyStory's own `12:33;45` form."""
    text = value.strip().replace(";", ":")
    text = _SPACE_FOR_PLUS.sub(r"\g<time>+\g<offset>", text)
    try:
        parsed = datetime.fromisoformat(text)  # a bare date reads as its midnight
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=zone)
        parsed.astimezone(UTC)  # years at the edge of the range cannot be moved to UTC
    except (ValueError, OverflowError) as exc:
        raise BadRequest(f"last_updated: not an ISO-8601 date or datetime: {value!r}") from exc
    return parsed
