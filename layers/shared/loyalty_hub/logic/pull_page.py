"""One page of one place in the Storyous pull (logic/pull.py): read it, archive and queue the bills the
hub does not hold at their version, move the cursor; and every way that can fail, with its fate."""

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from loyalty_hub.dal import archive
from loyalty_hub.dal.syncstate import CursorConflict, PullCursor
from loyalty_hub.logic.incoming import latest_per_id
from loyalty_hub.models.tenant import Tenant
from loyalty_hub.observability import logger, metric
from loyalty_hub.remote.backoff import full_jitter
from loyalty_hub.remote.errors import PermanentError, RetryableError
from loyalty_hub.rules.timestamps import format_timestamp
from loyalty_hub.storyous import mapping
from loyalty_hub.storyous.api import BillsPage, ClientRefused, Credentials

if TYPE_CHECKING:
    from loyalty_hub.logic.pull import PullDeps, PullReport

DOMAIN = "Bills"
SOURCE = "storyous-pull"  # marks pulled deliveries in the archive; ingest treats them like any other
MAX_PAGE_ATTEMPTS = 3  # per place and run; then the place waits for the next run


@dataclass
class Place:
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


class OutOfTime(Exception):
    """The run's time ran out in the middle of a page; the page is read again next run."""


@dataclass
class Run:
    deps: "PullDeps"
    remaining_seconds: Callable[[], float]
    report: "PullReport"
    places: list[Place] = field(default_factory=list)

    @property
    def margin(self) -> float:
        return float(self.deps.settings.PULL_TIME_MARGIN_SECONDS)

    def time_left(self) -> bool:
        return self.remaining_seconds() > self.margin


def step(state: Run, place: Place) -> None:
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
    except Exception as error:  # every failure has its fate below; one place's never stops the run
        next(handle for kinds, handle in _FATES if isinstance(error, kinds))(state, place, error)


def _out_of_time(state: Run, place: Place, error: Exception) -> None:
    place.done = True
    state.report.deferred += 1


def _client_refused(state: Run, place: Place, error: Exception) -> None:
    assert isinstance(error, ClientRefused)
    logger.error(
        "storyous refused the tenant's API client: fix it with admin set-storyous-client",
        extra={**place.log, "reason": error.reason, "status": error.status},
    )
    metric("PullFailed", 1)
    for other in state.places:
        if other.tenant.tenant_id == place.tenant.tenant_id and not other.done:
            other.done = True
            state.report.failed += 1


def _retry_later(state: Run, place: Place, error: Exception) -> None:
    assert isinstance(error, RetryableError)
    place.attempts += 1
    wait = error.retry_after if error.retry_after is not None else full_jitter(place.attempts)
    if place.attempts < MAX_PAGE_ATTEMPTS and wait <= state.deps.settings.PULL_MAX_WAIT_SECONDS:
        place.not_before = state.deps.clock() + wait
        return
    logger.warning(
        "storyous pull: the place keeps failing or asks for a long pause; the next run retries it",
        extra={**place.log, "reason": error.reason, "status": error.status, "retry_after": wait},
    )
    metric("PullThrottled" if error.status == 429 else "PullRetried", 1)
    place.done = True
    state.report.deferred += 1


def _taken(state: Run, place: Place, error: Exception) -> None:
    logger.warning("storyous pull: another run is pulling this place; this run leaves it", extra=place.log)
    place.done = True


def _refused(state: Run, place: Place, error: Exception) -> None:
    assert isinstance(error, PermanentError)
    logger.error(
        "storyous pull: Storyous refused the place's bills; check the place id and the client's access",
        extra={**place.log, "reason": error.reason, "status": error.status},
    )
    metric("PullFailed", 1)
    place.done = True
    state.report.failed += 1


def _failed(state: Run, place: Place, error: Exception) -> None:
    # One tenant's surprise (bad data, a store outage) must not stop the other tenants' pulls.
    logger.error("storyous pull failed for a place; the next run retries it", exc_info=error, extra=place.log)
    metric("PullFailed", 1)
    place.done = True
    state.report.failed += 1


# First match wins: ClientRefused is a PermanentError, and everything is an Exception.
_FATES: tuple[tuple[type[Exception] | tuple[type[Exception], ...], Callable[[Run, Place, Exception], None]], ...] = (
    (OutOfTime, _out_of_time),
    (ClientRefused, _client_refused),
    (RetryableError, _retry_later),
    (CursorConflict, _taken),
    (PermanentError, _refused),
    (Exception, _failed),
)


def _read_page(deps: "PullDeps", place: Place) -> BillsPage:
    if place.cursor.next_page:
        return deps.api.next_bills(place.credentials, place.cursor.next_page)
    return deps.api.bills(
        place.credentials,
        place.tenant.tenant_id,
        place.place_id,
        modified_since=place.cursor.since,
        limit=deps.settings.STORYOUS_PAGE_SIZE,
    )


def _queue_new_bills(state: Run, place: Place, bills: list[dict[str, Any]]) -> None:
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
                raise OutOfTime
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


def _detail(deps: "PullDeps", place: Place, bill_id: str, listed: dict[str, Any]) -> dict[str, Any]:
    try:
        return deps.api.bill(place.credentials, place.tenant.tenant_id, place.place_id, bill_id)
    except PermanentError as error:
        if error.status == 404:
            return listed  # gone since it was listed: what the list said is all there is
        raise


def _advanced(deps: "PullDeps", cursor: PullCursor, page: BillsPage, started: datetime) -> PullCursor:
    if page.next_page is not None:
        return replace(cursor, run_started_at=started, next_page=page.next_page)
    # The chain is complete: the next run asks for what changed since this one began (less the overlap).
    since = max(cursor.since, started - timedelta(seconds=deps.settings.PULL_OVERLAP_SECONDS))
    return replace(cursor, since=since, run_started_at=None, next_page=None, completed_at=deps.now())
