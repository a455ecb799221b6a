"""Reconcile, on a schedule: report what is stuck (dead letters, quarantine), redrive vendor dead
letters that are due, resend the customers of failed capture batches, and queue Voyado lookups for
customers whose enrichment is old.

A run is bounded by the time it has; whatever is left waits for the next run. Redriving sends first
and deletes second: a crash in between duplicates a message, which vendors tolerate (a vendor message
only says "this customer changed"), and never loses one.
"""

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any

from loyalty_hub import aws, config
from loyalty_hub.config import ReconcileSettings
from loyalty_hub.dal.batch import batch_get
from loyalty_hub.dal.codec import from_item
from loyalty_hub.dal.customers import BY_UPDATED_INDEX, CustomerStore, customer_pk
from loyalty_hub.dal.quarantine import QuarantineStore
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.errors import NotFound, Unavailable
from loyalty_hub.logic.capture_failures import FailedBatch, customers_in_stream, customers_in_window
from loyalty_hub.logic.resend import ResendDeps, resend
from loyalty_hub.observability import logger, metric
from loyalty_hub.vendors.voyado import wants_lookup
from loyalty_hub.vendors.worker import VendorMessage, vendor_metric

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

# 4xx answers that can pass on a later try (credentials, timeouts, rate limits); any other 4xx means
# the vendor refused the content, and sending it again cannot help.
RETRYABLE_CLIENT_STATUSES = frozenset({401, 403, 408, 429})
SQS_DEAD_LETTER_REASON = "dead-lettered by SQS after maxReceiveCount"
# Lambda's longest run, so one run never receives the same dead letter twice.
RECEIVE_VISIBILITY_SECONDS = 900
MAX_RECEIVED_PER_QUEUE = 1000
SQS_BATCH = 10
REFRESH_PAGE = 100  # customer ids per index page: one BatchGetItem, and a time check, each


@dataclass
class ReconcileDeps:
    settings: ReconcileSettings
    sqs: "SQSClient"
    tenants: TenantStore
    dynamodb: "DynamoDBClient"  # the customers table: its index for ids, the items for enrichment
    streams: Any = None  # DynamoDB Streams, to read back the customers of a failed capture batch
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    # Long polling reaches every SQS server; short polling may answer "empty" while a small DLQ is not.
    receive_wait_seconds: int = 1

    @classmethod
    def from_settings(cls, settings: ReconcileSettings) -> "ReconcileDeps":
        return cls(
            settings,
            aws.client("sqs"),
            TenantStore.from_settings(settings),
            aws.client("dynamodb"),
            aws.client("dynamodbstreams"),
        )


@cache
def default_deps() -> ReconcileDeps:
    return ReconcileDeps.from_settings(config.load(ReconcileSettings))


class Fate(StrEnum):
    REDRIVE = "redrive"
    WAITING = "waiting"
    EXHAUSTED = "exhausted"
    NEEDS_ATTENTION = "needs_attention"


@dataclass
class RedriveCounts:
    redriven: int = 0
    waiting: int = 0
    exhausted: int = 0
    needs_attention: int = 0
    failed: int = 0  # due, but not sent back: still in the DLQ, tried again next run


@dataclass
class ReconcileReport:
    depth: dict[str, int] = field(default_factory=dict)  # queue name -> messages, visible or not
    redrive: dict[str, RedriveCounts] = field(default_factory=dict)  # vendor -> what its dead letters got
    refresh_queued: dict[str, int] = field(default_factory=dict)  # tenant -> Voyado lookups queued
    refresh_failed: int = 0
    capture_failures_resent: int = 0  # failed stream batches whose customers went back to their vendors
    customers_resent: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)  # tenant -> records in quarantine
    tenants_failed: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)  # work left for the next run, and why

    def as_log(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    receipt_handle: str
    body: str
    reason: str | None
    status: int | None
    redrives: int
    sent_at: datetime
    receives: int  # SQS's ApproximateReceiveCount: roughly, how many runs have looked at it

    @classmethod
    def from_sqs(cls, message: Mapping[str, Any]) -> "DeadLetter":
        attributes = message.get("MessageAttributes") or {}
        system = message.get("Attributes") or {}

        def value(name: str) -> str | None:
            return (attributes.get(name) or {}).get("StringValue")

        return cls(
            message_id=message["MessageId"],
            receipt_handle=message["ReceiptHandle"],
            body=message["Body"],
            reason=value("reason"),
            status=_int(value("status")),
            redrives=_int(value("redrives")) or 0,
            sent_at=datetime.fromtimestamp(int(system.get("SentTimestamp", "0")) / 1000, UTC),
            receives=_int(system.get("ApproximateReceiveCount")) or 1,
        )


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def fate(letter: DeadLetter, now: datetime, *, max_attempts: int, backoff_seconds: int) -> Fate:
    status = letter.status
    if status is not None and 400 <= status < 500 and status not in RETRYABLE_CLIENT_STATUSES:
        return Fate.NEEDS_ATTENTION
    if letter.redrives >= max_attempts:
        return Fate.EXHAUSTED
    if now - letter.sent_at < timedelta(seconds=backoff_seconds * 4**letter.redrives):
        return Fate.WAITING
    return Fate.REDRIVE


def run(deps: ReconcileDeps, remaining_seconds: Callable[[], float]) -> ReconcileReport:
    """One scheduled run: depth first (before receiving hides anything), then redrive, then refresh."""
    settings = deps.settings
    report = ReconcileReport()

    def has_time() -> bool:
        return remaining_seconds() >= settings.RECONCILE_TIME_MARGIN_SECONDS

    now = deps.clock()
    queues = {**settings.VENDOR_DEAD_LETTER_QUEUES, **settings.WATCHED_QUEUES}
    for name, url in queues.items():
        depth = _depth(deps.sqs, url, name)
        if depth is not None:
            report.depth[name] = depth
            metric("DeadLetterDepth", depth, queue=name)

    for vendor, dlq_url in settings.VENDOR_DEAD_LETTER_QUEUES.items():
        queue_url = settings.VENDOR_QUEUES.get(vendor)
        if queue_url is None:
            logger.error(
                "a vendor DLQ has no vendor queue to redrive into: add it to VENDOR_QUEUES",
                extra={"vendor": vendor},
            )
            report.unfinished.append(f"{vendor} dead letters: no vendor queue configured")
            continue
        redrive = _Redrive(deps, vendor, dlq_url, queue_url)
        unfinished = redrive.run(now, has_time)
        counts = report.redrive[vendor] = redrive.counts
        if unfinished:
            report.unfinished.append(f"{vendor} dead letters: {unfinished}")
        vendor_metric(vendor, "", "Redriven", counts.redriven)
        vendor_metric(vendor, "", "RedriveExhausted", counts.exhausted)
        vendor_metric(vendor, "", "NeedsAttention", counts.needs_attention)

    _resend_capture_failures(deps, report, has_time)
    _quarantine_depth(deps, report)
    _refresh_voyado(deps, report, now, has_time)

    if report.unfinished:
        logger.info("reconcile stopped early; what is left waits for the next run", extra=report.as_log())
    else:
        logger.info("reconcile done", extra=report.as_log())
    return report


def _depth(sqs: "SQSClient", url: str, name: str) -> int | None:
    try:
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
    except Exception:
        logger.exception("could not read a queue's depth", extra={"queue": name})
        return None
    return int(attributes.get("ApproximateNumberOfMessages", 0)) + int(
        attributes.get("ApproximateNumberOfMessagesNotVisible", 0)
    )


@dataclass
class _Redrive:
    """One vendor's dead letters, each given its fate; what stays is made visible again at the end."""

    deps: ReconcileDeps
    vendor: str
    dlq_url: str
    queue_url: str
    counts: RedriveCounts = field(default_factory=RedriveCounts)
    left: list[DeadLetter] = field(default_factory=list)

    def run(self, now: datetime, has_time: Callable[[], bool]) -> str | None:
        """Returns why the queue was not finished, if it was not."""
        received = 0
        try:
            while True:
                if received >= MAX_RECEIVED_PER_QUEUE:
                    return f"per-run cap of {MAX_RECEIVED_PER_QUEUE} reached"
                if not has_time():
                    return "out of time"
                messages = self.deps.sqs.receive_message(
                    QueueUrl=self.dlq_url,
                    MaxNumberOfMessages=SQS_BATCH,
                    MessageAttributeNames=["All"],
                    MessageSystemAttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
                    VisibilityTimeout=RECEIVE_VISIBILITY_SECONDS,
                    WaitTimeSeconds=self.deps.receive_wait_seconds,
                ).get("Messages", [])
                if not messages:
                    return None
                received += len(messages)
                due = [letter for letter in map(DeadLetter.from_sqs, messages) if self._judge(letter, now)]
                if due:
                    self._send_back(due)
        finally:
            self._show_again()

    def _judge(self, letter: DeadLetter, now: datetime) -> bool:
        """Counts the letter's fate; True when it is to be redriven now."""
        settings = self.deps.settings
        verdict = fate(
            letter, now, max_attempts=settings.REDRIVE_MAX_ATTEMPTS, backoff_seconds=settings.REDRIVE_BACKOFF_SECONDS
        )
        if verdict is Fate.REDRIVE:
            return True
        self.left.append(letter)
        if verdict is Fate.WAITING:
            self.counts.waiting += 1
            return False
        if verdict is Fate.EXHAUSTED:
            self.counts.exhausted += 1
        else:
            self.counts.needs_attention += 1
        _warn_stuck(self.vendor, letter, verdict, settings.REDRIVE_MAX_ATTEMPTS)
        return False

    def _send_back(self, due: Sequence[DeadLetter]) -> None:
        """Sends `due` to the vendor queue, then deletes from the DLQ what was sent."""
        entries: list[SendMessageBatchRequestEntryTypeDef] = [
            {
                "Id": str(i),
                "MessageBody": letter.body,
                "MessageAttributes": {
                    "redrives": {"DataType": "Number", "StringValue": str(letter.redrives + 1)},
                    "previous_reason": {
                        "DataType": "String",
                        "StringValue": (letter.reason or SQS_DEAD_LETTER_REASON)[:1000],
                    },
                },
            }
            for i, letter in enumerate(due)
        ]
        try:
            failed = _send_batch(self.deps.sqs, self.queue_url, entries)
        except Exception:
            logger.exception("could not redrive dead letters; they stay in the DLQ", extra={"vendor": self.vendor})
            failed = {entry["Id"] for entry in entries}
        sent = [letter for i, letter in enumerate(due) if str(i) not in failed]
        stays = [letter for i, letter in enumerate(due) if str(i) in failed]
        self.counts.redriven += len(sent)
        self.counts.failed += len(stays)
        self.left += stays
        if stays:
            logger.warning(
                "some dead letters could not be redriven; they stay in the DLQ for the next run",
                extra={"vendor": self.vendor, "message_ids": [letter.message_id for letter in stays]},
            )
        if sent:
            self._delete(sent)

    def _delete(self, sent: Sequence[DeadLetter]) -> None:
        try:
            answer = self.deps.sqs.delete_message_batch(
                QueueUrl=self.dlq_url,
                Entries=[{"Id": str(i), "ReceiptHandle": letter.receipt_handle} for i, letter in enumerate(sent)],
            )
            failed = [sent[int(f["Id"])].message_id for f in answer.get("Failed", [])]
        except Exception:
            logger.exception("redriven dead letters could not be deleted", extra={"vendor": self.vendor})
            failed = [letter.message_id for letter in sent]
        if failed:
            # Harmless: the next run redrives them again, a duplicate the vendor worker tolerates.
            logger.warning(
                "redriven dead letters are still in the DLQ and will be sent again",
                extra={"vendor": self.vendor, "message_ids": failed},
            )

    def _show_again(self) -> None:
        """What stays is made visible now: the DLQ alarms watch visible messages and would flap otherwise."""
        for start in range(0, len(self.left), SQS_BATCH):
            chunk = self.left[start : start + SQS_BATCH]
            try:
                self.deps.sqs.change_message_visibility_batch(
                    QueueUrl=self.dlq_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": letter.receipt_handle, "VisibilityTimeout": 0}
                        for i, letter in enumerate(chunk)
                    ],
                )
            except Exception:
                # They become visible on their own once the receive's visibility timeout ends.
                logger.exception("could not make dead letters visible again", extra={"vendor": self.vendor})


def _warn_stuck(vendor: str, letter: DeadLetter, verdict: Fate, max_attempts: int) -> None:
    if verdict is Fate.NEEDS_ATTENTION:
        message = (
            "dead letter needs a person: the vendor refused its content. Fix the customer data or the mapping "
            "its reason names, then move it back to the vendor queue, or delete it"
        )
    else:
        message = (
            f"dead letter redriven {max_attempts} times and still failing: find the cause from its reason, "
            "then move it back to the vendor queue, or delete it"
        )
    logger.warning(
        message,
        extra={
            "vendor": vendor,
            "reason": letter.reason or SQS_DEAD_LETTER_REASON,
            "status": letter.status,
            "message_id": letter.message_id,
            "redrives": letter.redrives,
            "receives": letter.receives,
            "fate": verdict.value,
        },
    )


def _send_batch(sqs: "SQSClient", url: str, entries: Sequence["SendMessageBatchRequestEntryTypeDef"]) -> set[str]:
    """SendMessageBatch with the entries it failed retried once; returns the ids that still failed."""
    failed = {f["Id"] for f in sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed", [])}
    if failed:
        again = [entry for entry in entries if entry["Id"] in failed]
        failed = {f["Id"] for f in sqs.send_message_batch(QueueUrl=url, Entries=again).get("Failed", [])}
    return failed


def _quarantine_depth(deps: ReconcileDeps, report: ReconcileReport) -> None:
    """Records ingest could not store, per tenant and in all (the alarm watches the total)."""
    if not deps.settings.QUARANTINE_TABLE:
        return
    store = QuarantineStore(deps.dynamodb, deps.settings.QUARANTINE_TABLE)
    for tenant in deps.tenants.list():
        try:
            count = store.count(tenant.tenant_id)
        except Exception:
            logger.exception("could not count the tenant's quarantine", extra={"tenant": tenant.tenant_id})
            continue
        if count:
            report.quarantined[tenant.tenant_id] = count
            metric("QuarantineDepth", count, tenant=tenant.tenant_id)
    metric("QuarantineDepth", sum(report.quarantined.values()))


def _resend_capture_failures(deps: ReconcileDeps, report: ReconcileReport, has_time: Callable[[], bool]) -> None:
    """Each failed stream batch: its customers resent from the table to every enabled vendor, then the
    failure record deleted. One that cannot be finished stays for the next run."""
    url = deps.settings.CAPTURE_FAILURE_QUEUE_URL
    if not url:
        return
    customers = CustomerStore(deps.dynamodb, deps.settings.CUSTOMERS_TABLE)
    resend_deps = ResendDeps(deps.tenants, customers, deps.sqs, deps.settings.VENDOR_QUEUES)
    for _ in range(MAX_RECEIVED_PER_QUEUE // SQS_BATCH):
        if not has_time():
            report.unfinished.append("capture failures: out of time")
            return
        messages = deps.sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=SQS_BATCH,
            VisibilityTimeout=RECEIVE_VISIBILITY_SECONDS,
            WaitTimeSeconds=deps.receive_wait_seconds,
        ).get("Messages", [])
        if not messages:
            return
        for message in messages:
            try:
                resent = _resend_batch(deps, resend_deps, message["Body"])
            except Exception:
                logger.exception("could not resend a capture failure; it stays for the next run")
                continue
            if resent is None:
                logger.error("a capture failure record that names no stream batch stays for a person")
                continue
            report.capture_failures_resent += 1
            report.customers_resent += resent
            deps.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    report.unfinished.append(f"capture failures: per-run cap of {MAX_RECEIVED_PER_QUEUE} reached")


def _resend_batch(deps: ReconcileDeps, resend_deps: ResendDeps, body: str) -> int | None:
    batch = FailedBatch.parse(body)
    if batch is None:
        return None
    found = customers_in_stream(deps.streams, batch)
    if found is None:
        tenants = [t.tenant_id for t in deps.tenants.list()]
        found = customers_in_window(resend_deps.customers, tenants, batch)
    resent = 0
    for tenant_id, customer_ids in sorted(found.items()):
        try:
            outcome = resend(resend_deps, tenant_id, customer_ids=customer_ids)
        except NotFound:
            continue  # a tenant deleted since: nothing to send it
        if any(outcome.failed.values()):
            raise Unavailable(f"SQS refused {sum(outcome.failed.values())} resend message(s)")
        resent += outcome.customers
    logger.info("capture failure resent", extra={"shard": batch.shard_id, "customers": resent})
    return resent


class OutOfTime(Exception):
    """The run's time is nearly spent; the rest waits for the next run."""


def stale_voyado_customers(
    client: "DynamoDBClient",
    table: str,
    tenant_id: str,
    stale: Callable[[Mapping[str, Any]], bool],
    has_time: Callable[[], bool],
) -> Iterator[str]:
    """Ids of the tenant's customers Voyado can be asked about whose enrichment is older than `stale_before`
    or missing. Raises OutOfTime when a page would start too late."""
    # ByUpdated does not project `enrichment`, so a filter there would see every customer as never
    # enriched: the index gives ids, the items give the enrichment.
    names = {"#email": "email", "#en": "enrichment", "#v": "voyado"}
    projection = "customer_id, #email, #en.#v"
    pages = client.get_paginator("query").paginate(
        TableName=table,
        IndexName=BY_UPDATED_INDEX,
        KeyConditionExpression="gsi1pk = :t",
        ExpressionAttributeValues={":t": {"S": tenant_id}},
        ProjectionExpression="customer_id",
        PaginationConfig={"PageSize": REFRESH_PAGE},
    )
    for page in pages:
        if not has_time():
            raise OutOfTime
        keys = [{"pk": {"S": customer_pk(tenant_id, item["customer_id"]["S"])}} for item in page.get("Items", [])]
        items = [from_item(raw) for raw in batch_get(client, table, keys, projection=projection, names=names)]
        for item in sorted(items, key=lambda i: str(i["customer_id"])):
            if stale(item):
                yield str(item["customer_id"])


def _refresh_voyado(deps: ReconcileDeps, report: ReconcileReport, now: datetime, has_time: Callable[[], bool]) -> None:
    settings = deps.settings
    queue_url = settings.VENDOR_QUEUES.get("voyado")
    tenants = [t for t in deps.tenants.list() if "voyado" in t.vendors.enabled()]
    if not tenants or settings.VOYADO_REFRESH_MAX_PER_TENANT == 0:
        return
    if queue_url is None:
        logger.error("tenants use Voyado but VENDOR_QUEUES has no voyado queue; enrichment is not refreshed")
        report.unfinished.append("voyado refresh: no voyado queue configured")
        return
    # Customers queued earlier stay stale until the worker gets to them: queueing them again while the
    # worker is behind (Voyado slow or down) would only pile up duplicates.
    backlog = _depth(deps.sqs, queue_url, "voyado")
    if backlog is None or backlog >= settings.VOYADO_REFRESH_MAX_PER_TENANT:
        report.unfinished.append(f"voyado refresh: the voyado queue holds {backlog} messages; refresh waits")
        return
    # The worker's own rule: a found answer older than the refresh age, a "not found" past its backoff.
    hours = settings.VOYADO_REFRESH_AGE_HOURS

    def stale_before(item: Mapping[str, Any]) -> bool:
        return wants_lookup(dict(item), now, refresh_hours=hours)

    for tenant in tenants:
        tenant_id = tenant.tenant_id
        if not has_time():
            report.unfinished.append(f"voyado refresh of tenant {tenant_id}: out of time")
            continue
        refresh = _Refresh(deps, queue_url, tenant_id)
        try:
            unfinished = refresh.run(stale_before, has_time)
        except Exception:
            logger.exception("voyado refresh failed for the tenant; the others go on", extra={"tenant": tenant_id})
            report.tenants_failed.append(tenant_id)
            unfinished = None
        report.refresh_queued[tenant_id] = refresh.queued
        report.refresh_failed += refresh.failed
        if unfinished:
            report.unfinished.append(f"voyado refresh of tenant {tenant_id}: {unfinished}")
        metric("VoyadoRefreshQueued", refresh.queued, tenant=tenant_id)


@dataclass
class _Refresh:
    """Voyado lookups queued for one tenant's stale customers, in batches of ten."""

    deps: ReconcileDeps
    queue_url: str
    tenant_id: str
    queued: int = 0
    failed: int = 0  # could not be queued even on a second try; the next run finds them stale again
    pending: list[str] = field(default_factory=list)

    def run(self, stale_before: Callable[[Mapping[str, Any]], bool], has_time: Callable[[], bool]) -> str | None:
        """Returns why the tenant was not finished, if it was not."""
        cap = self.deps.settings.VOYADO_REFRESH_MAX_PER_TENANT
        client, table = self.deps.dynamodb, self.deps.settings.CUSTOMERS_TABLE
        unfinished: str | None = None
        try:
            for customer_id in stale_voyado_customers(client, table, self.tenant_id, stale_before, has_time):
                self.pending.append(customer_id)
                if len(self.pending) == SQS_BATCH:
                    self._flush()
                if self.queued + self.failed + len(self.pending) >= cap:
                    unfinished = f"per-run cap of {cap} reached"
                    break
        except OutOfTime:
            unfinished = "out of time"
        if self.pending:
            self._flush()
        return unfinished

    def _flush(self) -> None:
        batch, self.pending = self.pending, []
        entries: list[SendMessageBatchRequestEntryTypeDef] = [
            {"Id": str(i), "MessageBody": VendorMessage(tenant_id=self.tenant_id, customer_id=cid).model_dump_json()}
            for i, cid in enumerate(batch)
        ]
        lost = _send_batch(self.deps.sqs, self.queue_url, entries)
        if lost:
            logger.warning(
                "some Voyado refreshes could not be queued; the next run picks them up",
                extra={"tenant": self.tenant_id, "customer_ids": [batch[int(i)] for i in sorted(lost, key=int)]},
            )
        self.queued += len(batch) - len(lost)
        self.failed += len(lost)
