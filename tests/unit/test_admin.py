"""Tenant administration against moto: what it writes, and that bad input changes nothing."""

import io
import json
import os
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

import boto3
import pytest

from loyalty_hub.auth import DAILYSTORY_KEY_HASHES, hash_api_key
from loyalty_hub.dal.syncstate import PullCursor, SyncStateStore
from loyalty_hub.secrets import KEYS, USES, legacy_secret_name
from loyalty_hub_dev.admin import Admin, AdminError, Target, main
from loyalty_hub_dev.admin.secrets import SecretStore
from tests.support.deliveries import archive
from tests.support.stack import PLACE, REGION, SECRETS_PREFIX, Stack, read_secret


@pytest.fixture
def admin(stack: Stack) -> Admin:
    return Admin(Target.from_environment())


def secret(tenant_id: str) -> dict[str, Any]:
    """Every value the tenant's secrets hold, whichever use holds it."""
    return {k: v for use in USES for k, v in read_secret(use, tenant_id).items()}


def test_create_show_list(admin: Admin) -> None:
    admin.create_tenant("m1", "Café One", "Europe/Prague", "CZ", {"p1": "Náměstí"})
    admin.add_place("m1", "p2", "Nádraží")
    shown = admin.show("m1")
    assert shown["places"] == {"p1": {"name": "Náměstí", "active": True}, "p2": {"name": "Nádraží", "active": True}}
    assert shown["storyous_webhook_secret_set"] is False and shown["dailystory_keys"] == 0
    assert [t.tenant_id for t in admin.list().tenants] == ["m1"]


def test_list_names_a_tenant_item_that_does_not_read_and_lists_the_others(
    stack: Stack, admin: Admin, capsys: pytest.CaptureFixture[str]
) -> None:
    admin.create_tenant("m1", "Café One", "Europe/Prague", "CZ", {"p1": "Náměstí"})
    boto3.client("dynamodb", region_name=REGION).put_item(
        TableName=stack.tenants_table, Item={"tenant_id": {"S": "m2"}, "name": {"S": "Bistro"}, "places": {"N": "1"}}
    )
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("m1\tCafé One") and lines[1].startswith("m2\tUNREADABLE: places: Expected `object`")
    assert main(["--json", "list"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[1] == {"tenant_id": "m2", "unreadable": "places: Expected `object`, got `int`"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("bad/id", "x", "Europe/Prague", "CZ"), "tenant_id: Expected `str` matching regex"),
        (("m2", "", "Europe/Prague", "CZ"), "name: Expected `str` of length >= 1"),
        (("m2", "x", "Mars/Base", "CZ"), "time_zone: unknown time zone 'Mars/Base'"),
        (("m2", "x", "Europe/Prague", "Czechia"), "country: Expected `str` matching regex"),
    ],
)
def test_bad_tenants_are_refused_and_nothing_is_written(admin: Admin, args: tuple[str, ...], message: str) -> None:
    with pytest.raises(AdminError, match=message.replace("(", r"\(").replace(")", r"\)")):
        admin.create_tenant(*args, places={})
    assert admin.list().tenants == [] and admin.list().unreadable == {}


def test_a_tenant_cannot_be_created_twice(admin: Admin) -> None:
    admin.create_tenant("m1", "One", "Europe/Prague", "CZ", {})
    with pytest.raises(AdminError, match="exists already"):
        admin.create_tenant("m1", "Other", "Europe/Prague", "CZ", {})
    assert admin.show("m1")["name"] == "One"


def test_webhook_secret_rotation_keeps_the_previous_one(admin: Admin) -> None:
    admin.create_tenant("m1", "One", "Europe/Prague", "CZ", {})
    first = admin.set_webhook_secret("m1", None)
    second = admin.set_webhook_secret("m1", "a-chosen-secret-of-24-chars")
    assert len(first) >= 32 and second == "a-chosen-secret-of-24-chars"
    assert secret("m1") == {"storyous_webhook_secret": second, "storyous_webhook_secret_previous": first}
    with pytest.raises(AdminError, match="at least 16 characters"):
        admin.set_webhook_secret("m1", "short")
    assert secret("m1")["storyous_webhook_secret"] == second


def test_keys_are_shown_once_and_stored_hashed(admin: Admin) -> None:
    admin.create_tenant("m1", "One", "Europe/Prague", "CZ", {})
    first = admin.issue_dailystory_key("m1", rotate=False)
    second = admin.issue_dailystory_key("m1", rotate=False)
    assert first.startswith("m1.") and first not in json.dumps(secret("m1"))
    assert secret("m1")[DAILYSTORY_KEY_HASHES] == [hash_api_key(first), hash_api_key(second)]
    third = admin.issue_dailystory_key("m1", rotate=True)
    assert secret("m1")[DAILYSTORY_KEY_HASHES] == [hash_api_key(third)]


def test_unknown_tenants_are_refused(admin: Admin) -> None:
    for action in (
        lambda: admin.show("nope"),
        lambda: admin.set_webhook_secret("nope", None),
        lambda: admin.issue_dailystory_key("nope", rotate=False),
        lambda: admin.add_place("nope", "p", ""),
        lambda: admin.replay("nope", date(2024, 1, 1)),
    ):
        with pytest.raises(AdminError, match="no tenant nope"):
            action()


def test_replay_enqueues_archived_deliveries_since_a_date(stack: Stack, admin: Admin) -> None:
    admin.create_tenant("m1", "One", "Europe/Prague", "CZ", {PLACE: ""})
    archive(stack.raw_bucket, "m1", PLACE, "Bills", [{"billId": "B1"}], received_at=datetime(2024, 6, 30, tzinfo=UTC))
    archive(stack.raw_bucket, "m1", PLACE, "Bills", [{"billId": "B2"}], received_at=datetime(2024, 7, 2, tzinfo=UTC))
    archive(stack.raw_bucket, "m1", PLACE, "Items", [{"id": "I1"}], received_at=datetime(2024, 7, 3, tzinfo=UTC))
    assert admin.replay("m1", date(2024, 7, 1)) == 2
    assert admin.replay("m1", date(2024, 7, 1), domain="Items") == 1
    sqs = boto3.client("sqs", region_name=REGION)
    messages = sqs.receive_message(QueueUrl=stack.ingest_queue_url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(json.loads(m["Body"])["domain"] for m in messages) == ["Bills", "Items"]  # FIFO dedupes the repeat


def test_replay_queues_a_body_that_no_longer_reads_for_ingest_to_quarantine(stack: Stack, admin: Admin) -> None:
    admin.create_tenant("m1", "One", "Europe/Prague", "CZ", {PLACE: ""})
    # archived before D53 held a domain to its alphabet: the replay goes on, and ingest says why it cannot apply it
    archive(stack.raw_bucket, "m1", PLACE, "~ledger#M1", [{"id": "B1"}], received_at=datetime(2024, 7, 2, tzinfo=UTC))
    archive(stack.raw_bucket, "m1", PLACE, "Bills", [{"billId": "B2"}], received_at=datetime(2024, 7, 2, tzinfo=UTC))
    assert admin.replay("m1", date(2024, 7, 1)) == 2
    sqs = boto3.client("sqs", region_name=REGION)
    messages = sqs.receive_message(QueueUrl=stack.ingest_queue_url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(json.loads(m["Body"])["domain"] for m in messages) == ["Bills", "~ledger#M1"]


def test_the_command_line_reports_errors_without_a_traceback(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--json", "create", "m1", "--name", "One", "--place", f"{PLACE}=Square"]) == 0
    assert json.loads(capsys.readouterr().out)["places"] == {PLACE: {"name": "Square", "active": True}}
    assert main(["create", "bad id", "--name", "x"]) == 2
    assert capsys.readouterr().err.startswith("error: tenant_id: Expected `str` matching regex")
    assert main(["issue-key", "m1"]) == 0
    assert capsys.readouterr().out.startswith("m1.")


def test_the_local_target_needs_a_running_stack(tmp_path: Any) -> None:
    with pytest.raises(AdminError, match="start the local stack first"):
        Target.from_local(tmp_path / "missing.json")


def test_enabling_custobar_stores_settings_and_credentials(admin: Admin) -> None:
    admin.create_tenant("m1", "One", "Europe/Prague", "CZ", {})
    tenant = admin.enable_custobar(
        "m1",
        base_url="https://acme.custobar.com",
        auth="Token",
        field_prefix="acme",
        credentials={"custobar_token": "tok"},
    )
    assert tenant.vendors.enabled() == ["custobar"]
    assert secret("m1")["custobar_token"] == "tok"
    assert admin.disable_vendor("m1", "custobar").vendors.enabled() == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_url": "not a url", "auth": "Token", "field_prefix": "acme"}, "base_url"),
        ({"base_url": "https://a.custobar.com", "auth": "Token", "field_prefix": "Bad-Prefix"}, "field_prefix"),
        ({"base_url": "https://a.custobar.com", "auth": "Magic", "field_prefix": "acme"}, "auth"),
        ({"base_url": "https://a.custobar.com", "auth": "Basic", "field_prefix": "acme"}, "custobar_username"),
    ],
)
def test_bad_custobar_settings_change_nothing(admin: Admin, kwargs: dict[str, str], message: str) -> None:
    admin.create_tenant("m1", "One", "Europe/Prague", "CZ", {})
    with pytest.raises(AdminError, match=message):
        admin.enable_custobar("m1", credentials={"custobar_token": "tok"}, **kwargs)
    assert admin.show("m1")["vendors"]["custobar"] is None and "custobar_token" not in secret("m1")


def test_the_storyous_client_goes_to_the_secret_and_needs_both_parts(admin: Admin) -> None:
    admin.create_tenant("m1", "One", "Europe/Prague", "CZ", {})
    with pytest.raises(AdminError, match="both a client id and a client secret"):
        admin.set_storyous_client("m1", "id", " ")
    assert admin.show("m1")["storyous_client_set"] is False
    admin.set_storyous_client("m1", "client-1", "s3cret")
    assert secret("m1")["storyous_client_id"] == "client-1" and admin.show("m1")["storyous_client_set"] is True


def test_enabling_voyado_and_orderingstack(admin: Admin) -> None:
    admin.create_tenant("m1", "One", "Europe/Prague", "CZ", {})
    admin.enable_voyado("m1", base_url="https://live.voyado.eastsideapps.io", api_key="vk")
    tenant = admin.enable_orderingstack(
        "m1",
        base_url="https://ordering.3e.pl",
        os_tenant="cafe-one",
        grant="client_credentials",
        credentials={"orderingstack_client_id": "id", "orderingstack_client_secret": "sec"},
    )
    assert tenant.vendors.enabled() == ["voyado", "orderingstack"]
    assert secret("m1")["voyado_api_key"] == "vk" and secret("m1")["orderingstack_client_secret"] == "sec"
    with pytest.raises(AdminError, match="orderingstack_username"):
        admin.enable_orderingstack(
            "m1",
            base_url="https://ordering.3e.pl",
            os_tenant="cafe-one",
            grant="password",
            credentials={"orderingstack_client_id": "id", "orderingstack_client_secret": "sec"},
        )
    with pytest.raises(AdminError, match="tenant: Expected `str` matching regex"):
        admin.enable_orderingstack(
            "m1",
            base_url="https://ordering.3e.pl",
            os_tenant="a b",
            grant="client_credentials",
            credentials={"orderingstack_client_id": "id", "orderingstack_client_secret": "sec"},
        )
    with pytest.raises(AdminError, match="API key"):
        admin.enable_voyado("m1", base_url="https://live.voyado.eastsideapps.io", api_key=" ")
    assert admin.show("m1")["vendors"]["orderingstack"]["grant"] == "client_credentials"


def test_pull_from_points_every_active_place_at_the_tenants_midnight(stack: Stack, admin: Admin) -> None:
    admin.create_tenant("m1", "Café One", "Europe/Prague", "CZ", {"p1": "Náměstí", "p2": "Nádraží"})
    store = SyncStateStore(boto3.client("dynamodb", region_name=REGION), stack.sync_state_table)
    store.save_pull_cursor(PullCursor("m1", "p1", since=datetime(2024, 7, 1, tzinfo=UTC), next_page="/bills/x?a=1"))

    assert admin.pull_from("m1", date(2024, 1, 1)) == ("p1", "p2")

    for place in ("p1", "p2"):
        cursor = store.pull_cursor("m1", place)
        assert cursor is not None and cursor.next_page is None
        assert cursor.since == datetime(2023, 12, 31, 23, 0, tzinfo=UTC)  # midnight in Prague
    assert admin.pull_from("m1", date(2024, 2, 1), "p2") == ("p2",)


def test_pull_from_refuses_unknown_places_and_stacks_without_the_table(stack: Stack, admin: Admin) -> None:
    admin.create_tenant("m1", "Café One", "Europe/Prague", "CZ", {"p1": "Náměstí"})
    with pytest.raises(AdminError, match="no active place p9"):
        admin.pull_from("m1", date(2024, 1, 1), "p9")
    old = Admin(Target(stack.tenants_table, SECRETS_PREFIX, stack.raw_bucket, stack.ingest_queue_url))
    with pytest.raises(AdminError, match="SyncStateTable"):
        old.pull_from("m1", date(2024, 1, 1))
    assert (
        SyncStateStore(boto3.client("dynamodb", region_name=REGION), stack.sync_state_table).pull_cursor("m1", "p1")
        is None
    )


@pytest.mark.parametrize("place", ["p/1", "bad/place", "..", "a b", "x" * 65])
def test_place_ids_outside_the_id_alphabet_are_refused(admin: Admin, place: str) -> None:
    admin.create_tenant("m1", "One", "Europe/Prague", "CZ", {})
    with pytest.raises(AdminError, match="a place id is"):
        admin.add_place("m1", place, "x")
    with pytest.raises(AdminError, match="places"):
        admin.create_tenant("m2", "Two", "Europe/Prague", "CZ", {place: "x"})
    assert admin.show("m1")["places"] == {}


def test_quarantine_commands_list_show_retry_drop(
    stack: Stack, admin: Admin, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QUARANTINE_TABLE", stack.quarantine_table)
    admin.create_tenant("m1", "One", "Europe/Prague", "CZ", {PLACE: "x"})
    from loyalty_hub.logic import ingest  # noqa: PLC0415 - reads the environment set above

    poison = {"billId": "B1", "customerId": "C1", "finalPrice": 1e200, "_lastModifiedAt": "2024-07-01T10:00:00Z"}
    ingest.ingest_delivery(ingest.default_deps(), archive(stack.raw_bucket, "m1", PLACE, "Bills", [poison]))
    assert main(["quarantine", "list", "m1"]) == 0
    line = capsys.readouterr().out.strip()
    qid, domain, entity, code, attempts, reason = line.split("\t")
    assert (domain, entity, code, attempts) == ("Bills", "B1", "number_out_of_range", "1") and "1e200" not in reason
    assert main(["quarantine", "show", "m1", qid]) == 0
    assert json.loads(capsys.readouterr().out)["archive_key"].startswith(f"raw/m1/{PLACE}/Bills/")
    assert main(["quarantine", "retry", "m1"]) == 2  # neither ids nor --all: nothing done
    assert "--all" in capsys.readouterr().err
    assert main(["quarantine", "retry", "m1", "qnope"]) == 2
    assert main(["quarantine", "retry", "m1", "--all"]) == 0
    assert capsys.readouterr().out.strip() == "1 record(s) in 1 deliveries queued for ingest again"
    assert main(["quarantine", "drop", "m1", qid]) == 0
    assert main(["quarantine", "list", "m1"]) == 0
    assert capsys.readouterr().err.strip().endswith("0 quarantined record(s)")
    assert main(["quarantine", "list", "nobody"]) == 2


def test_resend_command_reports_what_it_queued(
    stack: Stack, admin: Admin, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VENDOR_QUEUES", json.dumps({"custobar": stack.custobar_queue_url}))
    admin.create_tenant("m1", "One", "Europe/Prague", "CZ", {PLACE: "x"})
    assert main(["resend", "m1"]) == 2  # no vendor enabled yet
    admin.enable_custobar(
        "m1", base_url="https://a.custobar.com", auth="Token", field_prefix="a", credentials={"custobar_token": "t"}
    )
    capsys.readouterr()
    assert main(["resend", "m1", "--customer", "C1"]) == 2  # unknown customer: said, with the report
    assert "no customer C1" in capsys.readouterr().err
    assert main(["resend", "m1", "--since", "yesterday"]) == 2


def test_importing_the_admin_command_leaves_the_functions_logger_and_metrics_unbuilt() -> None:
    # The local stack imports it before setting the functions' POWERTOOLS_* environment; Logger and Metrics
    # built then have no service or namespace, and every handler's metrics flush fails (make run broke so).
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    code = "import sys, loyalty_hub_dev.admin; print('loyalty_hub.observability' in sys.modules)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("POWERTOOLS")} | {"PYTHONPATH": "layers/shared:dev"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)  # noqa: S603
    assert result.stdout.strip() == "False"


def test_each_value_goes_to_the_secret_of_its_use_and_no_other(admin: Admin) -> None:
    admin.create_tenant("m1", "Café One", "Europe/Prague", "CZ", {"p1": ""})
    admin.set_webhook_secret("m1", None)
    admin.issue_dailystory_key("m1", rotate=False)
    admin.set_storyous_client("m1", "client-1", "client-secret-1")
    admin.enable_custobar("m1", base_url="https://a.custobar.com", auth="Token", field_prefix="a",
                          credentials={"custobar_token": "tok"})  # fmt: skip
    admin.enable_voyado("m1", base_url="https://live.voyado.eastsideapps.io", api_key="vk")
    client = {"orderingstack_client_id": "c", "orderingstack_client_secret": "s"}
    admin.enable_orderingstack("m1", base_url="https://ordering.example.com", os_tenant="demo-tenant",
                               grant="client_credentials", credentials=client)  # fmt: skip
    for use in USES:
        held = read_secret(use, "m1")
        assert held and set(held) <= set(KEYS[use]), use
    assert admin.show("m1")["secrets"] == [f"{SECRETS_PREFIX}/{use}/m1" for use in USES]


def _legacy(tenant_id: str, values: dict[str, Any]) -> None:
    boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name=legacy_secret_name(SECRETS_PREFIX, tenant_id), SecretString=json.dumps(values)
    )


def test_migrate_splits_the_legacy_secret_keeps_newer_values_and_can_run_again(
    admin: Admin, capsys: pytest.CaptureFixture[str]
) -> None:
    admin.create_tenant("m1", "Café One", "Europe/Prague", "CZ", {"p1": ""})
    admin.create_tenant("m2", "Café Two", "Europe/Prague", "CZ", {"p1": ""})
    _legacy("m1", {"storyous_webhook_secret": "w" * 20, "custobar_token": "old", "voyado_api_key": "vk", "note": "x"})
    admin.enable_custobar("m1", base_url="https://a.custobar.com", auth="Token", field_prefix="a",
                          credentials={"custobar_token": "new"})  # fmt: skip  # set after the upgrade: it wins

    [first, second] = admin.migrate_secrets(None, delete_legacy=False)
    assert first.created == [f"{SECRETS_PREFIX}/webhook/m1", f"{SECRETS_PREFIX}/voyado/m1"]
    assert first.differs == [f"{SECRETS_PREFIX}/custobar/m1"] and first.unknown_keys == ["note"]
    assert second.note.startswith("no legacy secret") and not second.created
    assert read_secret("custobar", "m1") == {"custobar_token": "new"}
    assert read_secret("webhook", "m1") == {"storyous_webhook_secret": "w" * 20}
    assert "vk" not in json.dumps([asdict(r) for r in (first, second)])  # names only, never values

    assert main(["--json", "secrets", "migrate", "m1", "--delete-legacy"]) == 0
    [again] = json.loads(capsys.readouterr().out)
    assert again["created"] == [] and len(again["present"]) == 2 and again["legacy_deleted"] is True
    client = boto3.client("secretsmanager", region_name=REGION)
    assert "DeletedDate" in client.describe_secret(SecretId=legacy_secret_name(SECRETS_PREFIX, "m1"))
    [after] = admin.migrate_secrets(["m1"], delete_legacy=True)
    assert after.note.startswith("no legacy secret")  # scheduled for deletion counts as gone


def test_migrate_refuses_an_unknown_tenant_and_changes_nothing(admin: Admin) -> None:
    with pytest.raises(AdminError, match="no tenant"):
        admin.migrate_secrets(["ghost"], delete_legacy=True)


def test_a_stack_deployed_before_the_split_gives_the_same_names() -> None:
    client = boto3.client("secretsmanager", region_name=REGION)
    assert SecretStore(client, "loyalty-hub/prod/tenants").name("webhook", "m1") == "loyalty-hub/prod/webhook/m1"
    assert SecretStore(client, "loyalty-hub/prod").name("webhook", "m1") == "loyalty-hub/prod/webhook/m1"


@pytest.mark.parametrize(
    "command",
    [
        ["list"],
        ["show", "m1"],
        ["issue-key", "m1"],
        ["set-webhook-secret", "m1"],
        ["pull-from", "m1", "--since", "2024-01-01"],
        ["replay", "m1", "--since", "2024-01-01"],
        ["quarantine", "list", "m1"],
        ["secrets", "migrate"],
        ["show", "nobody"],
    ],
)
def test_every_command_prints_one_json_document_with_json(
    stack: Stack, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    Admin(Target.from_environment()).create_tenant("m1", "One", "Europe/Prague", "CZ", {PLACE: "Square"})
    code = main(["--json", *command])
    out = capsys.readouterr().out
    document = json.loads(out)  # exactly one document: json.loads refuses anything after it
    assert (code == 0) != ("error" in document if isinstance(document, dict) else False)


def test_secrets_come_from_the_environment_or_stdin_never_from_a_flag(
    stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    Admin(Target.from_environment()).create_tenant("m1", "One", "Europe/Prague", "CZ", {PLACE: "Square"})
    monkeypatch.setenv("VOYADO_API_KEY", "key-from-the-environment")
    assert main(["enable-voyado", "m1", "--base-url", "https://live.voyado.eastsideapps.io"]) == 0
    assert read_secret("voyado", "m1") == {"voyado_api_key": "key-from-the-environment"}
    monkeypatch.setattr("sys.stdin", io.StringIO("client-secret-from-stdin\n"))
    assert main(["set-storyous-client", "m1", "--client-id", "c1"]) == 0
    assert read_secret("storyous", "m1")["storyous_client_secret"] == "client-secret-from-stdin"
    monkeypatch.setattr("sys.stdin", io.StringIO("a-webhook-secret-given-on-stdin\n"))
    assert main(["set-webhook-secret", "m1", "--given"]) == 0
    assert read_secret("webhook", "m1")["storyous_webhook_secret"] == "a-webhook-secret-given-on-stdin"
    assert "client-secret-from-stdin" not in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["enable-voyado", "m1", "--base-url", "https://x.example", "--api-key", "k"])  # no such flag
