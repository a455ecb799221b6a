"""Environment settings, validated when a handler first runs (never at import)."""

import os
from typing import Annotated

import msgspec

from loyalty_hub import warm
from loyalty_hub.errors import ConfigurationError
from loyalty_hub.models import structs
from loyalty_hub.models.structs import Meta, Model
from loyalty_hub.models.vendors import Url

Name = Annotated[str, Meta(min_length=1)]
NonNegative = Annotated[int, Meta(ge=0)]  # seconds, days, counts
# {"custobar": "<queue url>", ...}: an environment variable holding JSON, decoded by `load`.
Json = dict[str, str]


class _Settings(Model, frozen=True, kw_only=True):
    """The environment, every other variable ignored. Numbers are read from their text (strict=False)."""


class TenantSettings(_Settings, frozen=True, kw_only=True):
    TENANTS_TABLE: Name
    SECRETS_PREFIX: Name  # Secrets Manager name prefix, '<prefix>/<use>/<tenant>'
    TENANT_CACHE_SECONDS: NonNegative = 60
    SECRET_CACHE_SECONDS: NonNegative = 300


class WebhookSettings(TenantSettings, frozen=True, kw_only=True):
    RAW_BUCKET: Name
    INGEST_QUEUE_URL: Name
    # Lambda's synchronous payload limit is 6 MB including the event envelope around the body.
    MAX_BODY_BYTES: Annotated[int, Meta(gt=0)] = 5_900_000


class IngestSettings(TenantSettings, frozen=True, kw_only=True):
    RAW_BUCKET: Name
    ENTITIES_TABLE: Name
    CUSTOMERS_TABLE: Name
    QUARANTINE_TABLE: Name
    RAW_RETENTION_DAYS: Annotated[int, Meta(ge=1)] = 400  # the archive's lifecycle: appearances expire with it


class PullSettings(TenantSettings, frozen=True, kw_only=True):
    RAW_BUCKET: Name
    INGEST_QUEUE_URL: Name
    ENTITIES_TABLE: Name
    SYNC_STATE_TABLE: Name
    STORYOUS_API_URL: Url = "https://api.storyous.com"
    STORYOUS_AUTH_URL: Url = "https://login.storyous.com/api/auth/authorize"
    STORYOUS_PAGE_SIZE: Annotated[int, Meta(ge=1, le=100)] = 100  # bills per list request
    STORYOUS_BACKFILL_DAYS: NonNegative = 30  # how far back a new place's first pull reaches
    # Bills modified while a run pages through its chain, or stamped by a clock slightly behind ours,
    # are read again by the next run: ingest ignores what it already has.
    PULL_OVERLAP_SECONDS: NonNegative = 600
    PULL_TIME_MARGIN_SECONDS: Annotated[int, Meta(ge=1)] = 30  # no page is started with less time left
    PULL_MAX_WAIT_SECONDS: NonNegative = 60  # a longer Retry-After defers to the next run


@warm.cached
def load[S: _Settings](model: type[S]) -> S:
    """Validate the process environment against `model` once per execution environment."""
    environment: dict[str, object] = {name: os.environ[name] for name in model.__struct_fields__ if name in os.environ}
    for name in _json_fields(model) & environment.keys():
        try:
            environment[name] = msgspec.json.decode(str(environment[name]))
        except msgspec.DecodeError as exc:
            raise _invalid(name) from exc
    try:
        return msgspec.convert(environment, model, strict=False)
    except msgspec.ValidationError as exc:
        raise _invalid(structs.reason(exc).split(":", 1)[0]) from exc


def _json_fields(model: type[_Settings]) -> set[str]:
    """The variables that hold JSON (`Json` fields); decoded before the rest is converted."""
    return {f.name for f in msgspec.structs.fields(model) if f.type == Json}


def _invalid(name: str) -> ConfigurationError:
    return ConfigurationError(f"invalid or missing environment variables: {name}")


class CustomerApiSettings(TenantSettings, frozen=True, kw_only=True):
    CUSTOMERS_TABLE: Name
    SNAPSHOT_BUCKET: Name
    # A DailyStory sync pages through one snapshot; this is how long a paused sync may resume it.
    SNAPSHOT_TTL_SECONDS: Annotated[int, Meta(gt=0)] = 1800


class CaptureSettings(TenantSettings, frozen=True, kw_only=True):
    # {"custobar": "<queue url>", ...}: one queue per vendor, so a slow vendor never delays another.
    VENDOR_QUEUES: Json


class VendorWorkerSettings(TenantSettings, frozen=True, kw_only=True):
    """Every vendor worker's settings; the same names and values for all of them (the local stack runs
    every function in one process), each worker picking its own queues by its vendor's name."""

    VENDOR_QUEUES: Json  # {"custobar": "<queue url>", ...}: deferrals go back there
    VENDOR_DEAD_LETTER_QUEUES: Json
    VENDOR_MAX_RECEIVES: Annotated[int, Meta(ge=1)] = 5  # the vendor queues' maxReceiveCount
    CUSTOMERS_TABLE: Name
    ENTITIES_TABLE: str = ""  # Custobar: the bills it uploads as sales; Custobar, OrderingStack: bill ledgers
    RATE_LIMIT_TABLE: str = ""  # Voyado: the shop's token bucket
    VENDOR_LEDGER_TABLE: str = ""  # OrderingStack: the events posted; every vendor: its last sends (admin trace)
    INGEST_QUEUE_URL: str = ""  # Voyado, OrderingStack: enrichment goes back through ingest


class ReconcileSettings(TenantSettings, frozen=True, kw_only=True):
    CUSTOMERS_TABLE: Name
    ENTITIES_TABLE: Name  # the customers' bill ledgers, for resending a capture failure's customers
    # The same {"custobar": "<queue url>", ...} capture uses: redriven and refresh messages go back there.
    VENDOR_QUEUES: Json
    VENDOR_DEAD_LETTER_QUEUES: Json  # {"custobar": "<dlq url>", ...}, redriven when due
    # {"ingest-dlq": "<url>", "capture-failures": "<url>"}: their depth is reported, never redriven.
    WATCHED_QUEUES: Json = structs.field(default_factory=dict)
    REDRIVE_MAX_ATTEMPTS: NonNegative = 3  # redrives per message before a person decides
    # A dead letter is due when it has sat in the DLQ for at least this * 4**redrives.
    REDRIVE_BACKOFF_SECONDS: NonNegative = 3600
    VOYADO_REFRESH_AGE_HOURS: Annotated[int, Meta(gt=0)] = 168
    VOYADO_REFRESH_MAX_PER_TENANT: NonNegative = 2000
    RECONCILE_TIME_MARGIN_SECONDS: NonNegative = 20  # stop starting work this close to timeout
    # Stream batches capture gave up on: their customers are resent to every enabled vendor.
    CAPTURE_FAILURE_QUEUE_URL: str = ""
    QUARANTINE_TABLE: str = ""  # its depth per tenant is reported (QuarantineDepth)
