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
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

import orjson
from aws_lambda_powertools.metrics import MetricUnit

from loyalty_hub import aws, config, secrets
from loyalty_hub.config import PullSettings
from loyalty_hub.dal import archive
from loyalty_hub.dal.entities import EntityStore
from loyalty_hub.dal.syncstate import CursorConflict, PullCursor, SyncStateStore
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.errors import HubError, NotFound, SecretMissing
from loyalty_hub.logic.ingest import latest_per_id
from loyalty_hub.models.tenant import Tenant
from loyalty_hub.observability import logger, metric
from loyalty_hub.remote.backoff import full_jitter
from loyalty_hub.remote.errors import PermanentError, RetryableError
from loyalty_hub.rules.timestamps import format_timestamp
from loyalty_hub.storyous import mapping
from loyalty_hub.storyous.api import BillsPage, ClientRefused, Credentials, StoryousApi

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

DOMAIN = "Bills"
SOURCE = "storyous-pull"  # marks pulled deliveries in the archive; ingest treats them like any other
MAX_PAGE_ATTEMPTS = 3  # per place and run; then the place waits for the next run


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


@cache
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


@dataclass
class _Place:
    tenant: Tenant
    place_id: str
    credentials: Credentials
    cursor: PullCursor
    not_before: float = 0.0
    attempts: int = 0
    done: bool = False
    queued: int = 0

    @property
    def log(self) -> dict[str, Any]:
        return {"tenant": self.tenant.tenant_id, "place": self.place_id}


class _OutOfTime(Exception):
    """The run's time ran out in the middle of a page; the page is read again next run."""


@dataclass
class _Run:
    deps: PullDeps
    remaining_seconds: Callable[[], float]
    report: PullReport = field(default_factory=PullReport)
    places: list[_Place] = field(default_factory=list)

    @property
    def margin(self) -> float:
        return float(self.deps.settings.PULL_TIME_MARGIN_SECONDS)

    def time_left(self) -> bool:
        return self.remaining_seconds() > self.margin


def run(deps: PullDeps, remaining_seconds: Callable[[], float], *, tenant_id: str | None = None) -> PullReport:
    """One scheduled run over every tenant (or just `tenant_id`) until the work or the time runs out."""
    state = _Run(deps, remaining_seconds)
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
                _step(state, place)
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


def _plan(state: _Run, only: str | None) -> list[_Place]:
    deps, report = state.deps, state.report
    try:
        tenants = [deps.tenants.get(only)] if only else deps.tenants.list()
    except NotFound:
        logger.error("storyous pull: no such tenant; check the schedule's input", extra={"tenant": only})
        return []
    places: list[_Place] = []
    for tenant in tenants:
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
            places.append(_Place(tenant, place_id, credentials, cursor))
    report.places = len(places)
    return places


def _step(state: _Run, place: _Place) -> None:
    """One page of one place: read, queue what is new, save the cursor; or decide why not."""
    deps, report = state.deps, state.report
    try:
        started = place.cursor.run_started_at or deps.now()
        page = _read_page(deps, place)
        report.pages += 1
        report.bills_seen += len(page.bills)
        _queue_new_bills(state, place, page.bills)
        place.cursor = deps.cursors.save_pull_cursor(_advanced(deps, place.cursor, page, started))
        place.attempts = 0
        if page.next_page is None:
            place.done = True
            report.completed += 1
    except _OutOfTime:
        place.done = True
        report.deferred += 1
    except ClientRefused as error:
        logger.error(
            "storyous refused the tenant's API client: fix it with admin set-storyous-client",
            extra={**place.log, "reason": error.reason, "status": error.status},
        )
        metric("PullFailed", 1)
        for other in state.places:
            if other.tenant.tenant_id == place.tenant.tenant_id and not other.done:
                other.done = True
                report.failed += 1
    except RetryableError as error:
        place.attempts += 1
        wait = error.retry_after if error.retry_after is not None else full_jitter(place.attempts)
        if place.attempts >= MAX_PAGE_ATTEMPTS or wait > deps.settings.PULL_MAX_WAIT_SECONDS:
            logger.warning(
                "storyous pull: the place keeps failing or asks for a long pause; the next run retries it",
                extra={**place.log, "reason": error.reason, "status": error.status, "retry_after": wait},
            )
            metric("PullThrottled" if error.status == 429 else "PullRetried", 1)
            place.done = True
            report.deferred += 1
        else:
            place.not_before = deps.clock() + wait
    except CursorConflict:
        logger.warning("storyous pull: another run is pulling this place; this run leaves it", extra=place.log)
        place.done = True
    except PermanentError as error:
        logger.error(
            "storyous pull: Storyous refused the place's bills; check the place id and the client's access",
            extra={**place.log, "reason": error.reason, "status": error.status},
        )
        metric("PullFailed", 1)
        place.done = True
        report.failed += 1
    except Exception:
        # One tenant's surprise (bad data, a store outage) must not stop the other tenants' pulls.
        logger.exception("storyous pull failed for a place; the next run retries it", extra=place.log)
        metric("PullFailed", 1)
        place.done = True
        report.failed += 1


def _read_page(deps: PullDeps, place: _Place) -> BillsPage:
    if place.cursor.next_page:
        return deps.api.next_bills(place.credentials, place.cursor.next_page)
    return deps.api.bills(
        place.credentials,
        place.tenant.tenant_id,
        place.place_id,
        modified_since=place.cursor.since,
        limit=deps.settings.STORYOUS_PAGE_SIZE,
    )


def _queue_new_bills(state: _Run, place: _Place, bills: list[dict[str, Any]]) -> None:
    """Archive and queue the bills the hub does not hold at this version yet, with items where needed."""
    deps, report = state.deps, state.report
    tenant_id = place.tenant.tenant_id
    now = deps.now()
    incoming, _, poison = latest_per_id(DOMAIN, bills, place.tenant.zone, format_timestamp(now))
    stored = deps.entities.versions(tenant_id, DOMAIN, incoming)
    fresh = [e for eid, e in incoming.items() if eid not in stored or stored[eid].version < e.version]
    # Bills no key can hold are archived all the same: ingest quarantines them, where an operator sees them.
    bodies = [p.body for p in poison]
    for entry in fresh:
        body = entry.body
        # Items give a customer's categories; bills without a customer need none of them.
        if mapping.bill_customer_id(body) and not mapping.bill_has_items(body):
            if not state.time_left():
                raise _OutOfTime
            body = _detail(deps, place, entry.entity_id, body)
            report.details += 1
        bodies.append(body)
    if not bodies:
        return
    envelope = {"dataDomain": DOMAIN, "data": bodies, "source": SOURCE}
    pointer = archive.archive_delivery(
        deps.s3,
        bucket=deps.settings.RAW_BUCKET,
        tenant_id=tenant_id,
        place_id=place.place_id,
        domain=DOMAIN,
        body=orjson.dumps(envelope),
        entities=len(bodies),
        received_at=now,
    )
    archive.enqueue(deps.sqs, deps.settings.INGEST_QUEUE_URL, pointer)
    report.deliveries += 1
    report.bills_queued += len(bodies)
    place.queued += len(bodies)


def _detail(deps: PullDeps, place: _Place, bill_id: str, listed: dict[str, Any]) -> dict[str, Any]:
    try:
        return deps.api.bill(place.credentials, place.tenant.tenant_id, place.place_id, bill_id)
    except PermanentError as error:
        if error.status == 404:
            return listed  # gone since it was listed: what the list said is all there is
        raise


def _advanced(deps: PullDeps, cursor: PullCursor, page: BillsPage, started: datetime) -> PullCursor:
    if page.next_page is not None:
        return replace(cursor, run_started_at=started, next_page=page.next_page)
    # The chain is complete: the next run asks for what changed since this one began (less the overlap).
    since = max(cursor.since, started - timedelta(seconds=deps.settings.PULL_OVERLAP_SECONDS))
    return replace(cursor, since=since, run_started_at=None, next_page=None, completed_at=deps.now())


def _publish_lag(deps: PullDeps, places: list[_Place]) -> None:
    """Seconds since each tenant's least recent complete pull: the figure to alarm on when pulls stick."""
    now = deps.now()
    worst: dict[str, float] = {}
    for place in places:
        last = place.cursor.completed_at or place.cursor.since
        worst[place.tenant.tenant_id] = max(worst.get(place.tenant.tenant_id, 0.0), (now - last).total_seconds())
    for tenant_id, seconds in worst.items():
        metric("PullLagSeconds", seconds, MetricUnit.Seconds, tenant=tenant_id)
