"""Accept one Storyous DataSync delivery: check it, archive the raw body, enqueue a pointer.

Nothing else happens on the request path, so a 5 MB back-fill is acknowledged as fast as a 1 KB delta.
"""

import hashlib
import secrets as random_secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from loyalty_hub import aws, config, secrets, warm
from loyalty_hub.auth import matches_any, presented_secret
from loyalty_hub.config import WebhookSettings
from loyalty_hub.dal import archive
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.errors import (
    ConfigurationError,
    InvalidEnvelope,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
)
from loyalty_hub.logic.incoming import read_entities
from loyalty_hub.models.datasync import KNOWN_DOMAINS, parse_envelope
from loyalty_hub.models.ids import entity_id_problem, is_valid_id
from loyalty_hub.models.tenant import Tenant
from loyalty_hub.storyous import mapping

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

WEBHOOK_SECRET_KEYS = secrets.KEYS["webhook"]  # the current one, and the one it replaced
# What a request for an unknown merchant is compared against, so it costs what a wrong secret costs.
_UNKNOWN_TENANT_SECRET = random_secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Accepted:
    delivery_id: str
    domain: str
    entities: int
    known_domain: bool
    archived_key: str | None  # None: nothing to store (empty data)


@dataclass
class WebhookDeps:
    settings: WebhookSettings
    tenants: TenantStore
    s3: "S3Client"
    sqs: "SQSClient"
    secrets: Callable[[str], dict[str, Any]]
    clock: Callable[[], datetime]

    @classmethod
    def from_settings(cls, settings: WebhookSettings) -> "WebhookDeps":
        return cls(
            settings=settings,
            tenants=TenantStore.from_settings(settings),
            s3=aws.client("s3"),
            sqs=aws.client("sqs"),
            secrets=secrets.reader(settings, "webhook"),
            clock=lambda: datetime.now(UTC),
        )


@warm.cached
def default_deps() -> WebhookDeps:
    """Dependencies of a warm execution environment, built on first use."""
    return WebhookDeps.from_settings(config.load(WebhookSettings))


def accept_delivery(
    deps: WebhookDeps, *, tenant_id: str, place_id: str, authorization: str | None, body: bytes
) -> Accepted:
    if len(body) > deps.settings.MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body of {len(body)} bytes exceeds the limit of {deps.settings.MAX_BODY_BYTES}")
    tenant = _authorize(deps, _known_tenant(deps, tenant_id), authorization)
    if not is_valid_id(place_id) or not tenant.has_place(place_id):
        raise NotFound(f"unknown place {place_id[:64]} for tenant {tenant_id}")
    envelope = parse_envelope(body)
    _check_ids(envelope.dataDomain, read_entities(envelope.dataDomain, envelope.data))

    sha256 = hashlib.sha256(body).hexdigest()
    domain = envelope.dataDomain
    accepted = Accepted(
        delivery_id=sha256[:16],
        domain=domain,
        entities=len(envelope.data),
        known_domain=domain in KNOWN_DOMAINS,
        archived_key=None,
    )
    if not envelope.data:
        return accepted

    pointer = archive.archive_delivery(
        deps.s3,
        bucket=deps.settings.RAW_BUCKET,
        tenant_id=tenant_id,
        place_id=place_id,
        domain=domain,
        body=body,
        entities=len(envelope.data),
        received_at=deps.clock(),
    )
    archive.enqueue(deps.sqs, deps.settings.INGEST_QUEUE_URL, pointer)
    return replace(accepted, archived_key=pointer.key)


def _known_tenant(deps: WebhookDeps, tenant_id: str) -> Tenant | None:
    """The tenant, or None for an id that is malformed or unknown: either answers as a wrong secret does."""
    if not is_valid_id(tenant_id):
        return None
    try:
        return deps.tenants.get(tenant_id)
    except NotFound:
        return None


def _authorize(deps: WebhookDeps, tenant: Tenant | None, authorization: str | None) -> Tenant:
    """401 for a wrong secret and for an unknown merchant alike, after the same constant-time comparison,
    so that merchant ids cannot be probed."""
    if tenant is None:
        matches_any(presented_secret(authorization), [_UNKNOWN_TENANT_SECRET, _UNKNOWN_TENANT_SECRET])
        raise Unauthorized("missing or wrong Authorization secret")
    secrets = deps.secrets(tenant.tenant_id)
    accepted = [str(secrets[k]) for k in WEBHOOK_SECRET_KEYS if secrets.get(k)]
    if not accepted:
        raise ConfigurationError(f"tenant {tenant.tenant_id} has no storyous_webhook_secret")
    if not matches_any(presented_secret(authorization), accepted):
        raise Unauthorized("missing or wrong Authorization secret")
    return tenant


def _check_ids(domain: str, data: list[dict[str, Any]]) -> None:
    """Ids no key can hold are refused at the door, naming the entity; anything else is accepted, and
    what ingest cannot store is quarantined there, record by record."""
    for index, entity in enumerate(data):
        for name, value in mapping.id_fields(domain, entity):
            if problem := entity_id_problem(value):
                raise InvalidEnvelope(f"data[{index}].{name}: {problem}")
