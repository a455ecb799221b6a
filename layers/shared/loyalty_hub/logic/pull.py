"""The scheduled Storyous pull: a backstop for webhooks that never arrived, and a new place's back-fill.

For every active place of every tenant with a Storyous API client, the bills changed since the place's
cursor are read page by page (`nextPage`). Bills the hub already holds at that version are skipped;
the others (with their items, from the bill's detail, when they belong to a customer) are archived and
queued for ingest exactly like a webhook delivery, so a bill seen twice is harmless.

- The cursor is saved after each page is queued: a run that dies resumes at the page it was on.
- Places take turns, one page each, so a long back-fill cannot starve the other tenants.
- 429 and 5xx delay only that place (Retry-After, or backoff); a place still failing is left for
  the next run. A refused client or an unknown place stops that tenant or place, not the run.
- No page is started with less than the margin left: what remains continues in the next run.
"""

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit

from loyalty_hub import aws, config, secrets, warm
from loyalty_hub.config import PullSettings
from loyalty_hub.dal.entities import EntityStore
from loyalty_hub.dal.syncstate import PullCursor, SyncStateStore
from loyalty_hub.dal.tenants import TenantList, TenantStore
from loyalty_hub.errors import HubError, NotFound, SecretMissing
from loyalty_hub.logic.pull_page import Place, Run, step
from loyalty_hub.observability import logger, metric
from loyalty_hub.storyous.api import Credentials, StoryousApi

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient


@dataclass
class PullDeps:
    settings: PullSettings
    tenants: TenantStore
    entities: EntityStore
    cursors: SyncStateStore
    api: StoryousApi
    s3: "S3Client"
    sqs: "SQSClient"
    secrets: Callable[[str], dict[str, Any]]
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def from_settings(cls, settings: PullSettings) -> "PullDeps":
        dynamodb = aws.client("dynamodb")
        return cls(
            settings=settings,
            tenants=TenantStore.from_settings(settings),
            entities=EntityStore(dynamodb, settings.ENTITIES_TABLE),
            cursors=SyncStateStore(dynamodb, settings.SYNC_STATE_TABLE),
            api=StoryousApi(settings.STORYOUS_API_URL, settings.STORYOUS_AUTH_URL),
            s3=aws.client("s3"),
            sqs=aws.client("sqs"),
            secrets=secrets.reader(settings, "storyous"),
        )


@warm.cached
def default_deps() -> PullDeps:
    return PullDeps.from_settings(config.load(PullSettings))


@dataclass
class PullReport:
    tenants: int = 0
    not_configured: int = 0  # tenants without a Storyous API client
    places: int = 0
    pages: int = 0
    bills_seen: int = 0
    bills_queued: int = 0
    details: int = 0
    deliveries: int = 0
    completed: int = 0  # places whose chain reached the last page in this run
    deferred: int = 0  # places with work left for the next run (time, throttling, errors that may pass)
    failed: int = 0  # places stopped by an error a person must look at

    def as_log(self) -> dict[str, int]:
        return asdict(self)


def run(deps: PullDeps, remaining_seconds: Callable[[], float], *, tenant_id: str | None = None) -> PullReport:
    """One scheduled run over every tenant (or just `tenant_id`) until the work or the time runs out."""
    state = Run(deps, remaining_seconds, PullReport())
    places = state.places = _plan(state, tenant_id)
    while pending := [p for p in places if not p.done]:
        if not state.time_left():
            break
        ready = [p for p in pending if p.not_before <= deps.clock()]
        if not ready:
            wait = min(p.not_before for p in pending) - deps.clock()
            if wait > remaining_seconds() - state.margin:
                break
            deps.sleep(wait)
            continue
        for place in ready:
            if not state.time_left():
                break
            if not place.done:  # a refused client ends its tenant's other places within the round
                step(state, place)
    unfinished = [p for p in places if not p.done]
    state.report.deferred += len(unfinished)
    if unfinished:
        logger.info(
            "storyous pull: time is up; these places continue in the next run",
            extra={"places": [f"{p.tenant.tenant_id}/{p.place_id}" for p in unfinished]},
        )
    for place in places:
        metric("PullBillsQueued", place.queued, tenant=place.tenant.tenant_id)
    _publish_lag(deps, places)
    logger.info("storyous pull done", extra=state.report.as_log())
    return state.report


def _plan(state: Run, only: str | None) -> list[Place]:
    deps, report = state.deps, state.report
    try:
        listed = TenantList([deps.tenants.get(only)]) if only else deps.tenants.list()
    except NotFound:
        logger.error("storyous pull: no such tenant; check the schedule's input", extra={"tenant": only})
        return []
    if listed.unreadable:  # reconcile counts them for the alarm; here the pull says why they are not pulled
        logger.error(
            "storyous pull: tenants whose configuration does not read are skipped", extra={"tenants": listed.unreadable}
        )
    places: list[Place] = []
    for tenant in listed.tenants:
        active = sorted(pid for pid, place in tenant.places.items() if place.active)
        if not active:
            continue
        report.tenants += 1
        try:
            credentials = Credentials.from_secret(deps.secrets(tenant.tenant_id))
        except SecretMissing:
            credentials = None
        except HubError as exc:
            logger.warning(f"storyous pull skipped: {exc}", extra={"tenant": tenant.tenant_id})
            report.failed += len(active)
            continue
        if credentials is None:
            logger.info(
                "storyous pull skipped: the tenant has no Storyous API client (admin set-storyous-client)",
                extra={"tenant": tenant.tenant_id},
            )
            report.not_configured += 1
            continue
        for place_id in active:
            try:
                cursor = deps.cursors.pull_cursor(tenant.tenant_id, place_id) or PullCursor(
                    tenant.tenant_id,
                    place_id,
                    since=deps.now() - timedelta(days=deps.settings.STORYOUS_BACKFILL_DAYS),
                )
            except HubError as exc:
                logger.warning(f"storyous pull skipped a place: {exc}", extra={"tenant": tenant.tenant_id})
                report.deferred += 1
                continue
            places.append(Place(tenant, place_id, credentials, cursor))
    report.places = len(places)
    return places


def _publish_lag(deps: PullDeps, places: list[Place]) -> None:
    """Seconds since each tenant's least recent complete pull: the figure to alarm on when pulls stick."""
    now = deps.now()
    worst: dict[str, float] = {}
    for place in places:
        last = place.cursor.completed_at or place.cursor.since
        worst[place.tenant.tenant_id] = max(worst.get(place.tenant.tenant_id, 0.0), (now - last).total_seconds())
    for tenant_id, seconds in worst.items():
        metric("PullLagSeconds", seconds, MetricUnit.Seconds, tenant=tenant_id)
