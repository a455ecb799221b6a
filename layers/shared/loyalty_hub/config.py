"""Environment settings, validated when a handler first runs (never at import)."""

import os

from pydantic import BaseModel, ConfigDict, Field, Json, ValidationError

from loyalty_hub import warm
from loyalty_hub.errors import ConfigurationError


class _Settings(BaseModel):
    # Each class builds its validator on first use: a function validates one of them, not all ten.
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)


class TenantSettings(_Settings):
    TENANTS_TABLE: str = Field(min_length=1)
    SECRETS_PREFIX: str = Field(min_length=1, description="Secrets Manager name prefix, '<prefix>/<use>/<tenant>'")
    TENANT_CACHE_SECONDS: int = Field(default=60, ge=0)
    SECRET_CACHE_SECONDS: int = Field(default=300, ge=0)


class WebhookSettings(TenantSettings):
    RAW_BUCKET: str = Field(min_length=1)
    INGEST_QUEUE_URL: str = Field(min_length=1)
    # Lambda's synchronous payload limit is 6 MB including the event envelope around the body.
    MAX_BODY_BYTES: int = Field(default=5_900_000, gt=0)


class IngestSettings(TenantSettings):
    RAW_BUCKET: str = Field(min_length=1)
    ENTITIES_TABLE: str = Field(min_length=1)
    CUSTOMERS_TABLE: str = Field(min_length=1)
    QUARANTINE_TABLE: str = Field(min_length=1)
    RAW_RETENTION_DAYS: int = Field(default=400, ge=1)  # the archive's lifecycle: appearances expire with it


class PullSettings(TenantSettings):
    RAW_BUCKET: str = Field(min_length=1)
    INGEST_QUEUE_URL: str = Field(min_length=1)
    ENTITIES_TABLE: str = Field(min_length=1)
    SYNC_STATE_TABLE: str = Field(min_length=1)
    # Plain strings: an HttpUrl default builds a type adapter at import, 14 ms of every cold start.
    STORYOUS_API_URL: str = Field(default="https://api.storyous.com", pattern=r"^https?://\S+$")
    STORYOUS_AUTH_URL: str = Field(default="https://login.storyous.com/api/auth/authorize", pattern=r"^https?://\S+$")
    STORYOUS_PAGE_SIZE: int = Field(default=100, ge=1, le=100, description="bills per list request")
    STORYOUS_BACKFILL_DAYS: int = Field(default=30, ge=0, description="how far back a new place's first pull reaches")
    # Bills modified while a run pages through its chain, or stamped by a clock slightly behind ours,
    # are read again by the next run: ingest ignores what it already has.
    PULL_OVERLAP_SECONDS: int = Field(default=600, ge=0)
    PULL_TIME_MARGIN_SECONDS: int = Field(default=30, ge=1, description="no page is started with less time left")
    PULL_MAX_WAIT_SECONDS: int = Field(default=60, ge=0, description="a longer Retry-After defers to the next run")


@warm.cached
def load[S: _Settings](model: type[S]) -> S:
    """Validate the process environment against `model` once per execution environment."""
    try:
        return model.model_validate(dict(os.environ))
    except ValidationError as exc:
        missing = ", ".join(str(e["loc"][0]) for e in exc.errors())
        raise ConfigurationError(f"invalid or missing environment variables: {missing}") from exc


class CustomerApiSettings(TenantSettings):
    CUSTOMERS_TABLE: str = Field(min_length=1)
    SNAPSHOT_BUCKET: str = Field(min_length=1)
    # A DailyStory sync pages through one snapshot; this is how long a paused sync may resume it.
    SNAPSHOT_TTL_SECONDS: int = Field(default=1800, gt=0)


class CaptureSettings(TenantSettings):
    # {"custobar": "<queue url>", ...}: one queue per vendor, so a slow vendor never delays another.
    VENDOR_QUEUES: Json[dict[str, str]]


class VendorWorkerSettings(TenantSettings):
    """Every vendor worker's settings; the same names and values for all of them (the local stack runs
    every function in one process), each worker picking its own queues by its vendor's name."""

    VENDOR_QUEUES: Json[dict[str, str]]  # {"custobar": "<queue url>", ...}: deferrals go back there
    VENDOR_DEAD_LETTER_QUEUES: Json[dict[str, str]]
    VENDOR_MAX_RECEIVES: int = Field(default=5, ge=1, description="the vendor queues' maxReceiveCount")
    CUSTOMERS_TABLE: str = Field(min_length=1)
    ENTITIES_TABLE: str = ""  # Custobar: the bills it uploads as sales
    RATE_LIMIT_TABLE: str = ""  # Voyado: the shop's token bucket
    VENDOR_LEDGER_TABLE: str = ""  # OrderingStack: the events posted; every vendor: its last sends (admin trace)
    INGEST_QUEUE_URL: str = ""  # Voyado, OrderingStack: enrichment goes back through ingest


class ReconcileSettings(TenantSettings):
    CUSTOMERS_TABLE: str = Field(min_length=1)
    # The same {"custobar": "<queue url>", ...} capture uses: redriven and refresh messages go back there.
    VENDOR_QUEUES: Json[dict[str, str]]
    VENDOR_DEAD_LETTER_QUEUES: Json[dict[str, str]]  # {"custobar": "<dlq url>", ...}, redriven when due
    # {"ingest-dlq": "<url>", "capture-failures": "<url>"}: their depth is reported, never redriven.
    WATCHED_QUEUES: Json[dict[str, str]] = Field(default_factory=dict)
    REDRIVE_MAX_ATTEMPTS: int = Field(default=3, ge=0, description="redrives per message before a person decides")
    # A dead letter is due when it has sat in the DLQ for at least this * 4**redrives.
    REDRIVE_BACKOFF_SECONDS: int = Field(default=3600, ge=0)
    VOYADO_REFRESH_AGE_HOURS: int = Field(default=168, gt=0)
    VOYADO_REFRESH_MAX_PER_TENANT: int = Field(default=2000, ge=0)
    RECONCILE_TIME_MARGIN_SECONDS: int = Field(default=20, ge=0, description="stop starting work this close to timeout")
    # Stream batches capture gave up on: their customers are resent to every enabled vendor.
    CAPTURE_FAILURE_QUEUE_URL: str = ""
    QUARANTINE_TABLE: str = ""  # its depth per tenant is reported (QuarantineDepth)
