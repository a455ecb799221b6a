"""Reconcile: dead-letter depth, redrive of due dead letters (bounded across cycles), and the Voyado
refresh of old enrichment, against the moto account built from template.yaml."""

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from functions.reconcile import app as reconcile_app
from loyalty_hub import config
from loyalty_hub.config import ReconcileSettings
from loyalty_hub.dal.customers import CustomerStore, customer_pk
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.errors import Unavailable
from loyalty_hub.logic import reconcile
from loyalty_hub.logic.reconcile import SQS_DEAD_LETTER_REASON, ReconcileDeps
from loyalty_hub.models import structs
from loyalty_hub.models.tenant import Place, Tenant
from loyalty_hub.models.vendor_message import VendorMessage
from loyalty_hub.models.vendors import CustobarSettings, Vendors, VoyadoSettings
from loyalty_hub.remote.errors import PermanentError, VendorError
from loyalty_hub.rules.timestamps import format_timestamp
from loyalty_hub.vendors.worker import process_batch
from tests.support.doubles import FixedClock, LogCapture
from tests.support.events import load
from tests.support.stack import MERCHANT, PLACE, REGION, Stack, add_tenant

VOYADO = VoyadoSettings(base_url="https://live.voyado.eastsideapps.io")
CUSTOBAR = CustobarSettings(base_url="https://acme.custobar.com", field_prefix="acme")
BODY = structs.to_json(VendorMessage(tenant_id=MERCHANT, customer_id="C1"))
PLENTY: Callable[[], float] = lambda: 300.0  # noqa: E731 - seconds left in the invocation


@pytest.fixture
def capture_failures_url(stack: Stack) -> str:
    return boto3.client("sqs", region_name=REGION).get_queue_url(QueueName="CaptureFailureQueue")["QueueUrl"]


@pytest.fixture
def env(stack: Stack, capture_failures_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    dlqs = {
        "custobar": stack.custobar_dlq_url,
        "voyado": stack.voyado_dlq_url,
        "orderingstack": stack.orderingstack_dlq_url,
    }
    monkeypatch.setenv("VENDOR_DEAD_LETTER_QUEUES", json.dumps(dlqs))
    watched = {"ingest-dlq": stack.ingest_dlq_url, "capture-failures": capture_failures_url}
    monkeypatch.setenv("WATCHED_QUEUES", json.dumps(watched))


@pytest.fixture
def clock() -> FixedClock:
    # moto stamps SentTimestamp with the real time: two hours on, a first redrive (1 h) is due, a second (4 h) not.
    return FixedClock(datetime.now(UTC) + timedelta(hours=2))


def make_deps(stack: Stack, clock: FixedClock) -> ReconcileDeps:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    return ReconcileDeps(
        settings=config.load(ReconcileSettings),
        sqs=boto3.client("sqs", region_name=REGION),
        tenants=TenantStore(stack.tenants_table, client=dynamodb, cache_seconds=0),
        dynamodb=dynamodb,
        clock=clock,
        receive_wait_seconds=0,  # moto long-polls an empty queue for real
    )


@pytest.fixture
def deps(stack: Stack, env: None, clock: FixedClock) -> ReconcileDeps:
    return make_deps(stack, clock)


def dead_letter(url: str, body: str = BODY, **attributes: str | int) -> None:
    """A message as the worker dead-letters it (String attributes for text, Number for numbers)."""
    message_attributes = {
        name: {"DataType": "Number" if isinstance(value, int) else "String", "StringValue": str(value)}
        for name, value in attributes.items()
    }
    boto3.client("sqs", region_name=REGION).send_message(
        QueueUrl=url,
        MessageBody=body,
        MessageAttributes=message_attributes,  # type: ignore[arg-type]
    )


def drain(url: str) -> list[dict[str, Any]]:
    """Every message in the queue with its attributes; the queue is left empty."""
    sqs = boto3.client("sqs", region_name=REGION)
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], AttributeNames=["All"]
    ).get("Messages", []):
        found += batch
        for m in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return found


def attributes(message: dict[str, Any]) -> dict[str, str]:
    return {name: value["StringValue"] for name, value in message.get("MessageAttributes", {}).items()}


def peek(url: str) -> dict[str, Any]:
    """The one message in the queue, received and made visible again at once."""
    sqs = boto3.client("sqs", region_name=REGION)
    [message] = sqs.receive_message(QueueUrl=url, AttributeNames=["All"])["Messages"]
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    return message


def depth(url: str) -> int:
    found = boto3.client("sqs", region_name=REGION).get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(found["ApproximateNumberOfMessages"]) + int(found["ApproximateNumberOfMessagesNotVisible"])


def metrics_printed(out: str) -> list[dict[str, Any]]:
    """(name, dimensions, value) of every EMF document single_metric printed."""
    found = []
    for line in out.splitlines():
        if '"_aws"' not in line:
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            dimensions = {name: document[name] for names in directive["Dimensions"] for name in names}
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                found.append(
                    {"name": metric["Name"], **dimensions, "value": value[0] if isinstance(value, list) else value}
                )
    return found


# ------------------------------------------------------------------------------------------ redrive
@pytest.mark.parametrize("status", [500, 503, 429, 408, 401, 403])
def test_a_due_retryable_dead_letter_goes_back_to_its_vendor_with_a_redrive_count(
    stack: Stack, deps: ReconcileDeps, status: int
) -> None:
    dead_letter(stack.custobar_dlq_url, reason=f"{status} from https://acme.custobar.com", status=status, attempts=5)
    report = reconcile.run(deps, PLENTY)
    [message] = drain(stack.custobar_queue_url)
    assert message["Body"] == BODY
    assert attributes(message) == {"redrives": "1", "previous_reason": f"{status} from https://acme.custobar.com"}
    assert message["MessageAttributes"]["redrives"]["DataType"] == "Number"
    assert depth(stack.custobar_dlq_url) == 0
    assert report.redrive["custobar"].redriven == 1 and report.unfinished == []


def test_a_dead_letter_sqs_moved_itself_is_redriven_with_the_max_receive_reason(
    stack: Stack, deps: ReconcileDeps
) -> None:
    dead_letter(stack.voyado_dlq_url)  # the function crashed maxReceiveCount times: no attributes at all
    reconcile.run(deps, PLENTY)
    [message] = drain(stack.voyado_queue_url)
    assert attributes(message) == {"redrives": "1", "previous_reason": SQS_DEAD_LETTER_REASON}
    assert drain(stack.voyado_dlq_url) == []


@pytest.mark.parametrize(("redrives", "hours", "due"), [(0, 0.9, False), (0, 1, True), (1, 3.9, False), (2, 16, True)])
def test_each_redrive_waits_four_times_longer(stack: Stack, env: None, redrives: int, hours: float, due: bool) -> None:
    dead_letter(stack.custobar_dlq_url, reason="timeout", redrives=redrives)
    sent = int(peek(stack.custobar_dlq_url)["Attributes"]["SentTimestamp"]) / 1000
    clock = FixedClock(datetime.fromtimestamp(sent, UTC) + timedelta(hours=hours))
    report = reconcile.run(make_deps(stack, clock), PLENTY)
    assert report.redrive["custobar"].redriven == int(due) and report.redrive["custobar"].waiting == int(not due)


def test_a_dead_letter_not_yet_due_stays_and_is_visible_again(stack: Stack, deps: ReconcileDeps) -> None:
    dead_letter(stack.custobar_dlq_url, reason="500 from custobar", status=500, redrives=1)  # due after 4 h
    report = reconcile.run(deps, PLENTY)
    assert report.redrive["custobar"].waiting == 1 and report.redrive["custobar"].redriven == 0
    assert drain(stack.custobar_queue_url) == []
    # visible straight away: the DLQ alarm watches visible messages and must not flap after each run
    [message] = drain(stack.custobar_dlq_url)
    assert attributes(message)["redrives"] == "1"


def test_an_exhausted_dead_letter_stays_counted_and_told_to_a_person(
    stack: Stack, deps: ReconcileDeps, logs: LogCapture, capsys: pytest.CaptureFixture[str]
) -> None:
    dead_letter(stack.voyado_dlq_url, reason="503 from voyado", status=503, redrives=3)
    report = reconcile.run(deps, PLENTY)
    assert report.redrive["voyado"].exhausted == 1 and report.redrive["voyado"].redriven == 0
    assert drain(stack.voyado_queue_url) == [] and len(drain(stack.voyado_dlq_url)) == 1
    [warning] = [line for line in logs.lines() if line["level"] == "WARNING"]
    assert warning["vendor"] == "voyado" and warning["reason"] == "503 from voyado" and warning["status"] == 503
    assert warning["redrives"] == 3 and warning["fate"] == "exhausted" and warning["message_id"]
    assert "move it back to the vendor queue, or delete it" in warning["message"]
    counted = [m for m in metrics_printed(capsys.readouterr().out) if m.get("vendor") == "voyado"]
    assert {m["name"]: m["value"] for m in counted} == {"Redriven": 0, "RedriveExhausted": 1, "NeedsAttention": 0}


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_content_the_vendor_refused_needs_a_person_and_is_never_redriven(
    stack: Stack, deps: ReconcileDeps, logs: LogCapture, status: int
) -> None:
    dead_letter(stack.orderingstack_dlq_url, reason=f"{status} from orderingstack", status=status, attempts=1)
    report = reconcile.run(deps, PLENTY)
    assert report.redrive["orderingstack"].needs_attention == 1 and report.redrive["orderingstack"].redriven == 0
    assert drain(stack.orderingstack_queue_url) == [] and len(drain(stack.orderingstack_dlq_url)) == 1
    [warning] = [line for line in logs.lines() if line["level"] == "WARNING"]
    assert warning["fate"] == "needs_attention" and warning["status"] == status
    assert warning["message"].startswith("dead letter needs a person")


def test_the_time_budget_stops_the_run_and_leaves_the_rest_for_the_next(
    stack: Stack, deps: ReconcileDeps, logs: LogCapture
) -> None:
    voyado_tenant(stack)
    CustomerStore(deps.dynamodb, stack.customers_table).put_many([customer("C1", email="a@example.cz")])
    for i in range(25):
        dead_letter(
            stack.custobar_dlq_url, body=structs.to_json(VendorMessage(tenant_id=MERCHANT, customer_id=f"C{i}"))
        )
    checks = iter([300.0])  # time for one receive, then below the margin
    report = reconcile.run(deps, lambda: next(checks, 5.0))
    assert 1 <= report.redrive["custobar"].redriven <= 10
    assert depth(stack.custobar_dlq_url) == 25 - report.redrive["custobar"].redriven
    assert "custobar dead letters: out of time" in report.unfinished
    assert f"voyado refresh of tenant {MERCHANT}: out of time" in report.unfinished
    assert drain(stack.voyado_queue_url) == []
    [summary] = [line for line in logs.lines() if line["level"] == "INFO"]
    assert summary["message"] == "reconcile stopped early; what is left waits for the next run"


def test_depth_is_reported_for_every_dead_letter_and_watched_queue_before_anything_is_received(
    stack: Stack, deps: ReconcileDeps, capture_failures_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    dead_letter(stack.custobar_dlq_url, reason="422", status=422)
    dead_letter(stack.custobar_dlq_url, reason="500", status=500)
    dead_letter(capture_failures_url, body='{"requestContext": {}}')
    report = reconcile.run(deps, PLENTY)
    expected = {"custobar": 2, "voyado": 0, "orderingstack": 0, "ingest-dlq": 0, "capture-failures": 1}
    assert report.depth == expected
    printed = metrics_printed(capsys.readouterr().out)
    assert {m["queue"]: m["value"] for m in printed if m["name"] == "DeadLetterDepth"} == expected
    assert depth(capture_failures_url) == 1  # watched, never redriven
    assert {m["name"]: m["value"] for m in printed if m.get("vendor") == "custobar"} == {
        "Redriven": 1,
        "RedriveExhausted": 0,
        "NeedsAttention": 1,
    }


def lambda_record(message: dict[str, Any]) -> dict[str, Any]:
    """A received SQS message as Lambda's event source mapping hands it to a function."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message["Attributes"],
        "messageAttributes": {
            name: {
                "stringValue": v["StringValue"],
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": v["DataType"],
            }
            for name, v in message.get("MessageAttributes", {}).items()
        },
    }


class Refusing:
    name = "custobar"

    def deliver(self, tenant_id: str, messages: Any, **_: Any) -> dict[int, VendorError]:
        return dict.fromkeys(range(len(messages)), PermanentError("still failing"))


def test_redrives_stay_bounded_across_cycles_because_the_worker_keeps_the_count(stack: Stack, env: None) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    dead_letter(stack.custobar_dlq_url, reason="500 from custobar", status=500)
    started = datetime.now(UTC)
    for cycle, wait_hours in enumerate([1, 4, 16], start=1):
        # GIVEN the dead letter is due, WHEN reconcile runs, THEN it goes back to the vendor queue
        report = reconcile.run(make_deps(stack, FixedClock(datetime.now(UTC) + timedelta(hours=wait_hours))), PLENTY)
        assert report.redrive["custobar"].redriven == 1, cycle
        # AND when the worker fails it again, its dead letter keeps the redrive count
        [message] = drain(stack.custobar_queue_url)
        event = {"Records": [lambda_record(message)]}
        outcome = process_batch(
            event,
            Refusing(),
            sqs=sqs,
            queue_url=stack.custobar_queue_url,
            dlq_url=stack.custobar_dlq_url,
            max_receives=5,
        )
        assert outcome.dead_lettered == 1
        [again] = peek_all(stack.custobar_dlq_url)
        assert attributes(again)["redrives"] == str(cycle) and attributes(again)["reason"] == "still failing"
        assert attributes(again)["previous_reason"] == ("500 from custobar" if cycle == 1 else "still failing")
    # after three redrives it is left for a person, however long it waits
    late = FixedClock(started + timedelta(days=13))
    report = reconcile.run(make_deps(stack, late), PLENTY)
    assert report.redrive["custobar"].exhausted == 1 and report.redrive["custobar"].redriven == 0


def peek_all(url: str) -> list[dict[str, Any]]:
    """The queue's messages, each made visible again so the next run sees them."""
    sqs = boto3.client("sqs", region_name=REGION)
    messages = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], AttributeNames=["All"]
    ).get("Messages", [])
    for m in messages:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)
    return messages


def fail_entry(client: Any, operation: str, entry_id: str, times: int) -> list[list[str]]:
    """Makes `operation` report entry `entry_id` as failed (and not send it) `times` times; returns the ids asked."""
    asked: list[list[str]] = []
    state = {"left": times, "dropped": False}

    def drop(params: dict[str, Any], **_: Any) -> None:
        asked.append([e["Id"] for e in params["Entries"]])
        state["dropped"] = bool(state["left"]) and any(e["Id"] == entry_id for e in params["Entries"])
        if state["dropped"]:
            params["Entries"] = [e for e in params["Entries"] if e["Id"] != entry_id]  # the caller's list untouched
            state["left"] -= 1

    def answer_empty(params: dict[str, Any], **_: Any) -> Any:
        # SQS refuses an empty batch; a batch whose only entry failed never reaches it
        if state["dropped"] and json.loads(params["body"])["Entries"] == []:
            return SimpleNamespace(status_code=200, headers={}), {"Successful": [], "Failed": []}
        return None

    def report(parsed: dict[str, Any], **_: Any) -> None:
        if state["dropped"]:
            failure = {"Id": entry_id, "SenderFault": False, "Code": "InternalError", "Message": "injected"}
            parsed.setdefault("Failed", []).append(failure)

    client.meta.events.register(f"provide-client-params.sqs.{operation}", drop)
    client.meta.events.register(f"before-call.sqs.{operation}", answer_empty)
    client.meta.events.register(f"after-call.sqs.{operation}", report)
    return asked


def test_a_dead_letter_that_could_not_be_sent_back_stays_in_the_dlq(stack: Stack, deps: ReconcileDeps) -> None:
    for i in range(3):
        dead_letter(
            stack.custobar_dlq_url,
            body=structs.to_json(VendorMessage(tenant_id=MERCHANT, customer_id=f"C{i}")),
            reason="timeout",
        )
    fail_entry(deps.sqs, "SendMessageBatch", "0", times=2)  # the first try and its retry
    report = reconcile.run(deps, PLENTY)
    assert report.redrive["custobar"].redriven == 2 and report.redrive["custobar"].failed == 1
    assert len(drain(stack.custobar_queue_url)) == 2
    [kept] = drain(stack.custobar_dlq_url)  # never lost, and visible for the next run
    assert attributes(kept) == {"reason": "timeout"}


# ------------------------------------------------------------------------------------------ Voyado refresh
def voyado_tenant(stack: Stack, tenant_id: str = MERCHANT, vendors: Vendors | None = None) -> None:
    add_tenant(stack, tenant_id)
    store = TenantStore(stack.tenants_table, client=boto3.client("dynamodb", region_name=REGION))
    vendors = vendors or Vendors(voyado=VOYADO)
    store.put(Tenant(tenant_id=tenant_id, name="Café", places={PLACE: Place()}, vendors=vendors))


def customer(
    customer_id: str,
    tenant_id: str = MERCHANT,
    *,
    email: str | None = None,
    voyado: dict[str, Any] | None = None,
    updated: str = "2024-07-01T10:00:00.000000Z",
) -> dict[str, Any]:
    """A customer item as ingest stores it, with only what the refresh reads."""
    return {
        "pk": customer_pk(tenant_id, customer_id),
        "tenant_id": tenant_id,
        "customer_id": customer_id,
        "gsi1pk": tenant_id,
        "gsi1sk": f"{updated}#{customer_id}",
        "updated_at": updated,
        "ledger": "{}",
        "email": email,
        "enrichment": {"voyado": voyado} if voyado is not None else None,
    }


def queued_customers(url: str) -> list[tuple[str, str]]:
    bodies = [structs.decode(VendorMessage, m["Body"]) for m in drain(url)]
    assert all(b.bill_ids == [] for b in bodies)
    return sorted((b.tenant_id, b.customer_id) for b in bodies)


def ago(clock: FixedClock, **delta: float) -> str:
    return format_timestamp(clock.now - timedelta(**delta))


def test_refresh_queues_customers_whose_voyado_answer_is_old_or_missing(
    stack: Stack, deps: ReconcileDeps, clock: FixedClock, capsys: pytest.CaptureFixture[str]
) -> None:
    voyado_tenant(stack)
    voyado_tenant(stack, "custobaronly", Vendors(custobar=CUSTOBAR))
    old, fresh = ago(clock, hours=169), ago(clock, hours=1)
    contact = "4c4a3056-e3bf-3a3a-9bff-39d436ce65c4"
    by_id = {"voyado_contact_id": contact}  # what the worker asked by, stored with its answer

    def answer(status: str, observed: str, identity: dict[str, str], **more: Any) -> dict[str, Any]:
        return {"status": status, "observed": observed, "identity": identity, **more}

    CustomerStore(deps.dynamodb, stack.customers_table).put_many(
        [
            customer("old-found", email="a@example.cz", voyado=answer("found", old, by_id, contact_id=contact)),
            customer("old-not-found", email="b@example.cz", voyado=answer("not_found", old, {"email": "b@example.cz"})),
            customer(
                "new-not-found", email="f@example.cz", voyado=answer("not_found", fresh, {"email": "f@example.cz"})
            ),
            customer("never-enriched", email="c@example.cz"),
            customer("contact-id-only", voyado=answer("found", old, by_id, contact_id=contact)),
            customer("fresh", email="d@example.cz", voyado=answer("found", fresh, by_id, contact_id=contact)),
            customer("no-identity"),
            customer("null-contact", voyado=answer("found", old, {}, contact_id=None)),
            customer("other-tenant", "custobaronly", email="e@example.cz"),
        ]
    )
    report = reconcile.run(deps, PLENTY)
    assert queued_customers(stack.voyado_queue_url) == [
        (MERCHANT, "contact-id-only"),
        (MERCHANT, "never-enriched"),
        (MERCHANT, "old-found"),
        (MERCHANT, "old-not-found"),
    ]
    assert report.refresh_queued == {MERCHANT: 4} and report.unfinished == []
    printed = [m for m in metrics_printed(capsys.readouterr().out) if m["name"] == "VoyadoRefreshQueued"]
    assert printed == [{"name": "VoyadoRefreshQueued", "tenant": MERCHANT, "service": "loyalty-hub", "value": 4}]


def test_refresh_stops_at_the_per_tenant_cap(
    stack: Stack, env: None, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOYADO_REFRESH_MAX_PER_TENANT", "25")
    deps = make_deps(stack, clock)
    voyado_tenant(stack)
    voyado_tenant(stack, "second")
    store = CustomerStore(deps.dynamodb, stack.customers_table)
    store.put_many(
        [customer(f"C{i:03}", tenant, email=f"{i}@example.cz") for tenant in (MERCHANT, "second") for i in range(40)]
    )
    report = reconcile.run(deps, PLENTY)
    assert report.refresh_queued == {MERCHANT: 25, "second": 25}
    assert len(queued_customers(stack.voyado_queue_url)) == 50
    assert f"voyado refresh of tenant {MERCHANT}: per-run cap of 25 reached" in report.unfinished


def test_refresh_waits_while_the_voyado_queue_is_still_behind(
    stack: Stack, env: None, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOYADO_REFRESH_MAX_PER_TENANT", "3")
    deps = make_deps(stack, clock)
    voyado_tenant(stack)
    CustomerStore(deps.dynamodb, stack.customers_table).put_many([customer("C1", email="a@example.cz")])
    for i in range(3):  # the lookups an earlier run queued, not yet done
        deps.sqs.send_message(QueueUrl=stack.voyado_queue_url, MessageBody=BODY.replace("C1", f"earlier{i}"))
    report = reconcile.run(deps, PLENTY)
    assert report.refresh_queued == {}
    assert report.unfinished == ["voyado refresh: the voyado queue holds 3 messages; refresh waits"]
    assert (MERCHANT, "C1") not in queued_customers(stack.voyado_queue_url)


def test_a_failed_batch_entry_is_sent_again_once(stack: Stack, deps: ReconcileDeps, logs: LogCapture) -> None:
    voyado_tenant(stack)
    CustomerStore(deps.dynamodb, stack.customers_table).put_many(
        [customer(f"C{i}", email=f"{i}@example.cz") for i in range(3)]
    )
    asked = fail_entry(deps.sqs, "SendMessageBatch", "1", times=1)
    report = reconcile.run(deps, PLENTY)
    assert asked == [["0", "1", "2"], ["1"]]
    assert queued_customers(stack.voyado_queue_url) == [(MERCHANT, "C0"), (MERCHANT, "C1"), (MERCHANT, "C2")]
    assert report.refresh_queued == {MERCHANT: 3} and report.refresh_failed == 0


def test_an_entry_failing_twice_is_counted_and_logged(stack: Stack, deps: ReconcileDeps, logs: LogCapture) -> None:
    voyado_tenant(stack)
    CustomerStore(deps.dynamodb, stack.customers_table).put_many(
        [customer(f"C{i}", email=f"{i}@example.cz") for i in range(3)]
    )
    fail_entry(deps.sqs, "SendMessageBatch", "1", times=2)
    report = reconcile.run(deps, PLENTY)
    assert queued_customers(stack.voyado_queue_url) == [(MERCHANT, "C0"), (MERCHANT, "C2")]
    assert report.refresh_queued == {MERCHANT: 2} and report.refresh_failed == 1
    [warning] = [line for line in logs.lines() if line["level"] == "WARNING"]
    assert warning["customer_ids"] == ["C1"] and warning["tenant"] == MERCHANT


def test_one_tenants_failure_does_not_stop_the_others(stack: Stack, deps: ReconcileDeps, logs: LogCapture) -> None:
    voyado_tenant(stack, "broken")
    voyado_tenant(stack)
    CustomerStore(deps.dynamodb, stack.customers_table).put_many(
        [customer("C1", email="a@example.cz"), customer("C1", "broken", email="a@example.cz")]
    )

    def fail_for_broken(params: dict[str, Any], **_: Any) -> None:  # the customer index, not the quarantine
        if params.get("IndexName") and params.get("ExpressionAttributeValues", {}).get(":t") == {"S": "broken"}:
            raise RuntimeError("index unavailable")

    deps.dynamodb.meta.events.register("provide-client-params.dynamodb.Query", fail_for_broken)
    report = reconcile.run(deps, PLENTY)
    assert queued_customers(stack.voyado_queue_url) == [(MERCHANT, "C1")]
    assert report.tenants_failed == ["broken"] and report.refresh_queued == {"broken": 0, MERCHANT: 1}
    [error] = [line for line in logs.lines() if line["level"] == "ERROR"]
    assert error["tenant"] == "broken" and "index unavailable" in error["exception"]


# ------------------------------------------------------------------------------------------ handler
def test_the_handler_runs_the_job_from_its_schedule_event(
    stack: Stack, env: None, lambda_context: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REDRIVE_BACKOFF_SECONDS", "0")  # the real clock: due at once
    reconcile.default_deps().receive_wait_seconds = 0
    dead_letter(stack.custobar_dlq_url, reason="timeout")
    result = reconcile_app.lambda_handler(load("reconcile/schedule.json"), lambda_context)
    assert result["redrive"]["custobar"]["redriven"] == 1 and result["depth"]["custobar"] == 1
    assert json.loads(json.dumps(result)) == result  # the answer is plain JSON
    assert len(drain(stack.custobar_queue_url)) == 1
    assert {"name": "ReconcileRuns", "service": "loyalty-hub", "value": 1} in metrics_printed(capsys.readouterr().out)


# ------------------------------------------------------------------------------------------ tenant items
def broken_tenant(stack: Stack, tenant_id: str = "hand-edited") -> None:
    """A tenant item someone edited in the console: `places` holds a string, not a map."""
    boto3.client("dynamodb", region_name=REGION).put_item(
        TableName=stack.tenants_table,
        Item={"tenant_id": {"S": tenant_id}, "name": {"S": "Bistro"}, "places": {"S": "60b6512e66943300381c2d25"}},
    )


def test_a_tenant_item_that_does_not_read_is_reported_and_the_other_tenants_are_served(
    stack: Stack, deps: ReconcileDeps, clock: FixedClock, capsys: pytest.CaptureFixture[str], logs: LogCapture
) -> None:
    voyado_tenant(stack)
    broken_tenant(stack)
    CustomerStore(deps.dynamodb, stack.customers_table).put_many([customer("never-enriched", email="c@example.cz")])
    report = reconcile.run(deps, PLENTY)
    assert report.refresh_queued == {MERCHANT: 1}  # the readable tenant's work went on
    assert report.tenants_unreadable == {"hand-edited": "places: Expected `object`, got `str`"}
    assert {"name": "UnreadableTenants", "service": "loyalty-hub", "value": 1} in metrics_printed(
        capsys.readouterr().out
    )
    [error] = [line for line in logs.lines() if line["level"] == "ERROR"]
    assert error["tenants"] == {"hand-edited": "places: Expected `object`, got `str`"}


def test_no_unreadable_tenant_is_counted_as_zero(
    stack: Stack, deps: ReconcileDeps, capsys: pytest.CaptureFixture[str]
) -> None:
    voyado_tenant(stack)
    assert reconcile.run(deps, PLENTY).tenants_unreadable == {}
    assert {"name": "UnreadableTenants", "service": "loyalty-hub", "value": 0} in metrics_printed(
        capsys.readouterr().out
    )


def test_a_tenants_table_that_cannot_be_read_is_unavailable_not_a_raw_client_error() -> None:
    client = boto3.client("dynamodb", region_name=REGION)
    with Stubber(client) as stub:
        stub.add_client_error("scan", "ProvisionedThroughputExceededException")
        with pytest.raises(Unavailable, match="tenant store unavailable"):
            TenantStore("Tenants", client=client).list()
