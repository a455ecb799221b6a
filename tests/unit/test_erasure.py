"""Erasure (D47): after `forget`, no table item, archived delivery (any version) or snapshot holds the
person's values; Custobar is told `is_forgotten`; replay rebuilds every other customer identically."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from functions.ingest import app as ingest_app
from loyalty_hub.dal import archive as raw_archive
from loyalty_hub.dal.appearances import Appearances
from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.entities import EntityStore
from loyalty_hub.dal.ledger import LedgerStore
from loyalty_hub.dal.tenants import TenantStore
from loyalty_hub.errors import Unavailable
from loyalty_hub.logic import ingest
from loyalty_hub.logic.capture import vendor_message
from loyalty_hub.logic.customer_api import ListQuery, default_deps, get_customer, list_customers
from loyalty_hub.models import structs
from loyalty_hub.models.datasync import DeliveryPointer
from loyalty_hub.models.enrichment import EnrichmentUpdate
from loyalty_hub.models.tenant import Tenant
from loyalty_hub.models.vendor_message import VendorMessage
from loyalty_hub.models.vendors import CustobarSettings, Vendors
from loyalty_hub.partial import AllRecordsFailed
from loyalty_hub.vendors.custobar import Custobar
from loyalty_hub.vendors.custobar_records import erased_payload
from loyalty_hub_dev.admin import Admin, AdminError, Target, cli
from loyalty_hub_dev.sandboxes.custobar import CustobarSandbox
from tests.support.deliveries import archive, bill, customer_item
from tests.support.stack import MERCHANT, PLACE, REGION, Stack, add_tenant, read_secret, write_secrets
from tests.support.wsgi_transport import session_for

ALICE, BOB = "M4E6D346F7257504B", "M5A1B2C3D4E5F6A7B"
ALICE_VALUES = ("Alenka", "Nováková", "alenka@example.cz", "+420777123456", "Dlouhá 5", "1990-04-01", "CARD-77881")


def loyalty(customer_id: str, modified: str, first: str, email: str, **more: Any) -> dict[str, Any]:
    return {"customerId": customer_id, "firstName": first, "email": email, "_lastModifiedAt": modified, **more}


def alice(modified: str, **more: Any) -> dict[str, Any]:
    return loyalty(
        ALICE, modified, "Alenka", "Alenka@Example.cz", lastName="Nováková", phone="+420777123456",
        street="Dlouhá 5", birthDate="1990-04-01", cardNumber="CARD-77881", marketingConsent=True, **more,
    )  # fmt: skip


def deliver(stack: Stack, domain: str, data: list[dict[str, Any]], received_at: datetime) -> None:
    ingest.ingest_delivery(
        ingest.default_deps(), archive(stack.raw_bucket, MERCHANT, PLACE, domain, data, received_at=received_at)
    )


def drain(stack: Stack, lambda_context: Any) -> int:
    """The ingest queue through the ingest handler until it is empty (Lambda's event source, compressed):
    a message the handler reports failed is received again at once, as SQS would after its timeout.
    Returns how many receives failed."""
    sqs = boto3.client("sqs", region_name=REGION)
    failures = 0
    for _ in range(20):
        received = sqs.receive_message(QueueUrl=stack.ingest_queue_url, MaxNumberOfMessages=10, AttributeNames=["All"])
        if not received.get("Messages"):
            return failures
        records = [
            {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
             "attributes": m["Attributes"]}
            for m in received["Messages"]
        ]  # fmt: skip
        try:
            answer = ingest_app.lambda_handler({"Records": records}, lambda_context)
            failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        except AllRecordsFailed:  # Lambda fails the whole batch: every message comes back
            failed = {r["messageId"] for r in records}
        failures += len(failed)
        for m in received["Messages"]:
            if m["MessageId"] in failed:
                sqs.change_message_visibility(
                    QueueUrl=stack.ingest_queue_url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                sqs.delete_message(QueueUrl=stack.ingest_queue_url, ReceiptHandle=m["ReceiptHandle"])
    raise AssertionError("the ingest queue did not drain")


def everything(stack: Stack) -> str:
    """Every table item, every version of every archived delivery and every snapshot, as one lower-case text."""
    ddb, s3 = boto3.client("dynamodb", region_name=REGION), boto3.client("s3", region_name=REGION)
    texts = []
    for table in ddb.list_tables()["TableNames"]:
        for page in ddb.get_paginator("scan").paginate(TableName=table):
            texts += [json.dumps(item, ensure_ascii=False) for item in page["Items"]]
    for bucket in (stack.raw_bucket, stack.snapshot_bucket):
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for version in page.get("Versions", []):
                body = s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])["Body"]
                texts.append(body.read().decode())
    return "\n".join(texts).lower()


def leaked(text: str) -> list[str]:
    return [v for v in ALICE_VALUES if v.lower() in text]


@pytest.fixture
def history(stack: Stack, lambda_context: Any) -> Tenant:
    """Alice in three Loyalty deliveries (one of them twice, rewritten by Storyous), a quarantined Loyalty
    record, bills, Voyado enrichment and a live DailyStory snapshot; Bob beside her throughout."""
    tenant = add_tenant(stack)
    deps = ingest.default_deps()
    t0 = datetime(2024, 7, 1, 8, 0, tzinfo=UTC)
    bob = loyalty(BOB, "2024-07-01T09:00:00Z", "Bohouš", "bob@example.cz")
    for day, data in enumerate(
        [
            [alice("2024-07-01T09:00:00Z"), bob],
            [alice("2024-07-02T09:00:00Z", city="Praha")],
            [alice("2024-07-02T09:00:00Z", city="Praha")],  # the same version again: stale, still archived
            [alice("0001-01-01T00:00:00+14:00")],  # a version no UTC time holds: quarantined
        ]
    ):
        deliver(stack, "Loyalty", data, t0 + timedelta(days=day, minutes=day))
    bills = [
        bill("B1", ALICE, 120, "2024-07-03T10:00:00+02:00", "2024-07-03T10:00:01Z"),
        bill("B2", BOB, 80, "2024-07-03T11:00:00+02:00", "2024-07-03T11:00:01Z"),
        bill("B3", ALICE, 40, "2024-07-04T11:00:00+02:00", "2024-07-04T11:00:01Z"),
    ]
    deliver(stack, "Bills", bills, t0 + timedelta(days=5))
    contact = {"contact_id": "vo-alenka-1", "points": 30, "level": "Gold", "identity": {"email": "alenka@example.cz"}}
    update = EnrichmentUpdate(tenant_id=MERCHANT, customer_id=ALICE, vendor="voyado", observed_at=t0, data=contact)
    assert ingest.apply_enrichment(deps, update)
    api = default_deps()
    first = list_customers(api, tenant, ListQuery(last_updated=None, start=0, limit=1))
    assert first.count == 2  # a live snapshot holds both
    assert leaked(everything(stack))  # the fixture does hold her data
    return tenant


def forget(stack: Stack, lambda_context: Any) -> dict[str, Any]:
    admin = Admin(Target.from_environment())
    tenant = admin._tenant(MERCHANT)
    done = admin.customer_ops().forget(
        tenant, ALICE, wait_seconds=5, poll_seconds=0, progress=lambda _: drain(stack, lambda_context)
    )
    assert done.done, done.entry
    return done.entry


def test_forget_leaves_no_personal_value_anywhere(stack: Stack, history: Tenant, lambda_context: Any) -> None:
    before = customer_item(stack.customers_table, MERCHANT, BOB)

    entry = forget(stack, lambda_context)

    assert leaked(everything(stack)) == []
    report = entry["report"]
    assert report["customer"] == "erased" and report["loyalty_record"] == "scrubbed"
    assert report["quarantine_dropped"] == 1
    assert report["archive_rewritten"] == 4 and report["archive_unchanged"] == 1  # 4 Loyalty, 1 Bills
    assert report["versions_deleted"] == 4  # every rewritten delivery's received version
    assert entry["requested_by"] and entry["status"] == "done"
    assert ALICE_VALUES[0] not in json.dumps(entry, default=str)
    # Bob is untouched; Alice keeps her bills, not her person, and DailyStory no longer serves her.
    assert customer_item(stack.customers_table, MERCHANT, BOB) == before
    item = customer_item(stack.customers_table, MERCHANT, ALICE)
    assert item is not None and item["erased"]["reason"] == "forget" and item.get("contact") is None
    assert item["total_orders"] == 2 and item.get("enrichment") is None and "gsi1pk" not in item
    tenant = history
    api = default_deps()
    with pytest.raises(Exception, match="No customer found"):
        get_customer(api, tenant, ALICE)
    live = list_customers(api, tenant, ListQuery(last_updated=None, start=1, limit=5))
    fresh = list_customers(api, tenant, ListQuery(last_updated=None, start=0, limit=5))
    assert live.count == 2 and ALICE not in [r.id for r in live.records]  # the live snapshot leaves her out
    assert fresh.count == 1 and [r.id for r in fresh.records] == [BOB]


def test_custobar_hears_is_forgotten_and_nothing_personal(stack: Stack, history: Tenant, lambda_context: Any) -> None:
    old = customer_item(stack.customers_table, MERCHANT, ALICE)
    forget(stack, lambda_context)
    new = customer_item(stack.customers_table, MERCHANT, ALICE)
    change = vendor_message(new, old)
    assert change is not None and "erased" in change.fields  # capture queues it for every vendor
    assert new is not None
    assert erased_payload(new) == {"external_id": f"sty-{ALICE}", "is_forgotten": True}


class Recording:
    """The sandbox's transport, keeping every request body the client sent."""

    def __init__(self, app: Any) -> None:
        self.transport, self.bodies = session_for(app), list[bytes]()

    def request(self, method: str, url: str, *, body: bytes | None, headers: dict[str, str], **more: Any) -> Any:
        self.bodies.append(body or b"")
        return self.transport.request(method, url, body=body, headers=headers, **more)


def test_the_custobar_sandbox_forgets_her_and_is_sent_nothing_personal(
    stack: Stack, history: Tenant, lambda_context: Any
) -> None:
    settings = CustobarSettings(base_url="https://acme.custobar.com", field_prefix="acme", auth="Token")
    write_secrets(MERCHANT, {"custobar_token": "custobar-token-123"})
    client = boto3.client("dynamodb", region_name=REGION)
    tenants = TenantStore(stack.tenants_table, client=client, cache_seconds=0)
    tenants.put(structs.replace(history, vendors=Vendors(custobar=settings)))
    sandbox = CustobarSandbox(token="custobar-token-123")
    http = Recording(sandbox)
    custobar = Custobar(
        tenants, CustomerStore(client, stack.customers_table), EntityStore(client, stack.entities_table),
        lambda t: read_secret("custobar", t), ledger=LedgerStore(client, stack.entities_table), session=http,
    )  # fmt: skip
    everyone = [VendorMessage(tenant_id=MERCHANT, customer_id=c, bill_ids=["B1", "B2", "B3"]) for c in (ALICE, BOB)]
    custobar.deliver(MERCHANT, everyone)
    assert sandbox.customers[f"sty-{ALICE}"]["first_name"] == "Alenka"  # Custobar held her before
    old = customer_item(stack.customers_table, MERCHANT, ALICE)
    forget(stack, lambda_context)
    change = vendor_message(customer_item(stack.customers_table, MERCHANT, ALICE), old)
    assert change is not None
    bob_before, sent_before = dict(sandbox.customers[f"sty-{BOB}"]), len(http.bodies)
    custobar.deliver(MERCHANT, change.messages)
    assert sandbox.customers[f"sty-{ALICE}"] == {"external_id": f"sty-{ALICE}", "is_forgotten": True}
    assert sandbox.customers[f"sty-{BOB}"] == bob_before
    sent = b"".join(http.bodies[sent_before:]).decode()
    assert sandbox.requests[sent_before:] == [("/api/customers/upload/", 200)]  # no sales for an erased customer
    assert "is_forgotten" in sent and leaked(sent.lower()) == []


def test_forget_again_finds_nothing_left_and_a_later_stale_delivery_brings_nothing_back(
    stack: Stack, history: Tenant, lambda_context: Any
) -> None:
    forget(stack, lambda_context)
    again = forget(stack, lambda_context)["report"]
    assert again["customer"] == "already erased" and again["loyalty_record"] == "already scrubbed"
    assert again["archive_rewritten"] == 0 and again["versions_deleted"] == 0 and again["quarantine_dropped"] == 0
    # Storyous sends the same Loyalty version again: stale, so the person does not come back.
    deliver(stack, "Loyalty", [alice("2024-07-02T09:00:00Z")], datetime(2024, 8, 1, tzinfo=UTC))
    item = customer_item(stack.customers_table, MERCHANT, ALICE)
    assert item is not None and item["erased"] and item.get("contact") is None


def test_a_crash_half_way_is_finished_by_the_retry(stack: Stack, history: Tenant, lambda_context: Any) -> None:
    puts = {"n": 0}

    def crash_on_second_rewrite(**_: Any) -> None:
        puts["n"] += 1
        if puts["n"] == 2:
            raise RuntimeError("execution environment died")

    ingest.default_deps().s3.meta.events.register("before-call.s3.PutObject", crash_on_second_rewrite)
    ops = Admin(Target.from_environment()).customer_ops()
    failures: list[int] = []
    done = ops.forget(
        history, ALICE, wait_seconds=5, poll_seconds=0, progress=lambda _: failures.append(drain(stack, lambda_context))
    )
    assert sum(failures) == 1  # the first attempt died after one rewrite; SQS gave the message again
    assert done.done and done.entry["report"]["archive_rewritten"] == 3  # the retry found one already done
    assert leaked(everything(stack)) == []


def test_replay_after_forget_rebuilds_every_other_customer(stack: Stack, history: Tenant, lambda_context: Any) -> None:
    forget(stack, lambda_context)
    bob_before = customer_item(stack.customers_table, MERCHANT, BOB)
    ddb = boto3.client("dynamodb", region_name=REGION)
    for table in (stack.customers_table, stack.entities_table):
        for page in ddb.get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                key = {k: item[k] for k in ("pk", "sk") if k in item}
                ddb.delete_item(TableName=table, Key=key)
    s3 = boto3.client("s3", region_name=REGION)
    deps = ingest.default_deps()
    objects = s3.list_objects_v2(Bucket=stack.raw_bucket, Prefix="raw/")["Contents"]
    for obj in sorted(objects, key=lambda o: raw_archive.parse_key(o["Key"]).received_on):
        parts = raw_archive.parse_key(obj["Key"])
        body = raw_archive.get_raw(s3, stack.raw_bucket, obj["Key"])
        pointer = DeliveryPointer(
            tenant_id=MERCHANT, place_id=parts.place_id, domain=parts.domain, bucket=stack.raw_bucket,
            key=obj["Key"], sha256=parts.sha256,
            received_at=datetime.combine(parts.received_on, datetime.min.time(), UTC),
            entities=len(json.loads(body)["data"]), replay=True,
        )  # fmt: skip
        ingest.ingest_delivery(deps, pointer)
    bob_after = customer_item(stack.customers_table, MERCHANT, BOB)
    assert bob_before is not None and bob_after is not None
    view = ("first_name", "email", "total_orders", "total_sales", "date_last_order", "categories", "ledger", "contact")
    assert {k: bob_after.get(k) for k in view} == {k: bob_before.get(k) for k in view}
    rebuilt = customer_item(stack.customers_table, MERCHANT, ALICE)
    assert rebuilt is not None and rebuilt.get("contact") is None and rebuilt["erased"]
    assert leaked(everything(stack)) == []


def test_a_deleted_loyalty_member_is_erased_and_custobar_hears_is_deleted(stack: Stack, history: Tenant) -> None:
    deleted = {"customerId": ALICE, "deleted": True, "_lastModifiedAt": "2024-07-09T09:00:00Z", "firstName": "Alenka"}
    deliver(stack, "Loyalty", [deleted], datetime(2024, 7, 9, tzinfo=UTC))
    assert leaked(everything(stack)) == []
    item = customer_item(stack.customers_table, MERCHANT, ALICE)
    assert item is not None and item["erased"]["reason"] == "loyalty_deleted"
    assert erased_payload(item) == {"external_id": f"sty-{ALICE}", "is_deleted": True}


def test_a_delivery_deleting_many_members_lists_the_quarantine_once(stack: Stack, history: Tenant) -> None:
    members = [loyalty(f"M{i:016X}", "2024-07-01T09:00:00Z", f"Člen{i}", f"clen{i}@example.cz") for i in range(5)]
    deliver(stack, "Loyalty", members, datetime(2024, 7, 8, tzinfo=UTC))
    queried: list[str] = []
    ingest.default_deps().quarantine._client.meta.events.register(
        "provide-client-params.dynamodb.Query", lambda params, **_: queried.append(params["TableName"])
    )
    deleted = [{**m, "deleted": True, "_lastModifiedAt": "2024-07-09T09:00:00Z"} for m in members]
    deliver(stack, "Loyalty", deleted, datetime(2024, 7, 9, tzinfo=UTC))
    assert queried.count(stack.quarantine_table) == 1
    assert all(customer_item(stack.customers_table, MERCHANT, m["customerId"])["erased"] for m in members)


def test_loyalty_sending_the_person_again_ends_the_erasure(stack: Stack, history: Tenant, lambda_context: Any) -> None:
    forget(stack, lambda_context)
    deliver(stack, "Loyalty", [alice("2024-09-01T09:00:00Z")], datetime(2024, 9, 1, tzinfo=UTC))
    item = customer_item(stack.customers_table, MERCHANT, ALICE)
    assert item is not None and not item.get("erased")
    assert item is not None and item["first_name"] == "Alenka" and "gsi1pk" in item


def test_an_unknown_tenant_or_customer_changes_nothing(stack: Stack, history: Tenant, capsys: Any) -> None:
    before = everything(stack)
    assert cli.main(["--json", "forget", MERCHANT, "NOBODY", "--wait", "0"]) == 2
    assert "no customer NOBODY" in json.loads(capsys.readouterr().out)["error"]
    assert cli.main(["forget", "no-such-tenant", ALICE, "--wait", "0"]) == 2
    assert cli.main(["trace", MERCHANT, "bad id/with slash"]) == 2
    with pytest.raises(AdminError):
        Admin(Target.from_environment()).customer_ops().trace(history, "NOBODY")
    assert everything(stack) == before


def test_an_appearance_dynamodb_would_refuse_fails_its_delivery_whichever_customer_it_names(stack: Stack) -> None:
    # Appearance items differ only in their key, so record() checks the longest one: the last one here.
    appearances = Appearances(boto3.client("dynamodb", region_name=REGION), stack.entities_table)
    pointer = DeliveryPointer(
        tenant_id=MERCHANT, place_id=PLACE, domain="Bills", bucket=stack.raw_bucket, key="raw/k.json",
        sha256="0" * 64, received_at=datetime(2024, 7, 1, tzinfo=UTC), entities=3,
    )  # fmt: skip
    too_long = "Z" * 2048  # past DynamoDB's partition key bytes with its prefix (moto would store it)
    with pytest.raises(Unavailable, match="appearance item would be refused"):
        appearances.record(pointer, [ALICE, BOB, too_long], "webhook")
    appearances.record(pointer, [ALICE, BOB], "webhook")
    assert [a.archive_key for a in appearances.of(MERCHANT, BOB)] == ["raw/k.json"]
