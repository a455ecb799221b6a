"""Webhook: POST/PUT /webhooks/storyous/{merchantId}/{placeId} through the real handler, AWS in moto."""

import base64
import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from functions.webhook import app as webhook
from loyalty_hub.dal import tenants
from loyalty_hub.dal.archive import archive_key, parse_key
from loyalty_hub.logic import webhook as webhook_logic
from loyalty_hub.models import structs
from loyalty_hub.models.tenant import Place, Tenant
from tests.support.doubles import LogCapture
from tests.support.events import load, webhook_event
from tests.support.stack import MERCHANT, OTHER_PLACE, PLACE, REGION, WEBHOOK_SECRET, Stack, add_tenant

pytestmark = pytest.mark.usefixtures("tenant")


def bills_body() -> dict[str, Any]:
    return json.loads(load("webhook/bills-post.json")["body"])


def call(lambda_context: Any, body: Any = None, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    params = {"merchant_id": MERCHANT, "place_id": PLACE, "authorization": WEBHOOK_SECRET} | kwargs
    response = webhook.lambda_handler(webhook_event(bills_body() if body is None else body, **params), lambda_context)
    assert response["multiValueHeaders"]["Content-Type"] == ["application/json"]
    return response["statusCode"], json.loads(response["body"])


def archived(stack: Stack) -> list[str]:
    listing = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=stack.raw_bucket)
    return [obj["Key"] for obj in listing.get("Contents", [])]


def queued(stack: Stack) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    messages = sqs.receive_message(QueueUrl=stack.ingest_queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
        "Messages", []
    )
    return messages


def assert_nothing_written(stack: Stack) -> None:
    assert archived(stack) == []
    assert queued(stack) == []


def test_the_sample_event_is_archived_and_a_pointer_enqueued(stack: Stack, lambda_context: Any) -> None:
    # GIVEN the Bills delivery in events/ WHEN Storyous posts it
    response = webhook.lambda_handler(load("webhook/bills-post.json"), lambda_context)

    # THEN it is acknowledged with a small body, archived under a content-addressed key and enqueued
    assert response["statusCode"] == 200
    answer = json.loads(response["body"])
    assert answer["status"] == "accepted" and answer["dataDomain"] == "Bills" and answer["entities"] == 6
    [key] = archived(stack)
    assert key.startswith(f"raw/{MERCHANT}/{PLACE}/Bills/") and key.endswith(".json")
    raw = boto3.client("s3", region_name=REGION).get_object(Bucket=stack.raw_bucket, Key=key)["Body"].read()
    assert raw.decode() == load("webhook/bills-post.json")["body"]
    [message] = queued(stack)
    pointer = json.loads(message["Body"])
    assert pointer["key"] == key and pointer["tenant_id"] == MERCHANT and pointer["place_id"] == PLACE
    assert pointer["sha256"].startswith(answer["deliveryId"])
    assert message["Attributes"]["MessageGroupId"] == MERCHANT


@pytest.mark.parametrize("method", ["POST", "PUT"])
@pytest.mark.parametrize("authorization", [WEBHOOK_SECRET, f"Bearer {WEBHOOK_SECRET}", f"bearer  {WEBHOOK_SECRET} "])
def test_both_methods_and_both_header_forms_are_accepted(
    stack: Stack, lambda_context: Any, method: str, authorization: str
) -> None:
    status, _ = call(lambda_context, method=method, authorization=authorization)
    assert status == 200
    assert len(archived(stack)) == 1


def test_a_redelivered_body_lands_on_the_same_key(stack: Stack, lambda_context: Any) -> None:
    call(lambda_context)
    call(lambda_context)
    assert len(archived(stack)) == 1


def test_the_previous_secret_still_works_during_rotation(stack: Stack, lambda_context: Any) -> None:
    add_tenant(stack, "rotating", secret={"storyous_webhook_secret": "new", "storyous_webhook_secret_previous": "old"})
    for secret in ("new", "old"):
        status, _ = call(lambda_context, merchant_id="rotating", authorization=secret)
        assert status == 200
    status, _ = call(lambda_context, merchant_id="rotating", authorization="older")
    assert status == 401


@pytest.mark.parametrize(
    ("authorization", "why"),
    [
        (None, "no header"),
        ("", "empty header"),
        ("wrong-secret", "wrong secret"),
        ("Bearer wrong-secret", "wrong bearer token"),
        (f"Basic {WEBHOOK_SECRET}", "another scheme"),
        (WEBHOOK_SECRET + "x", "secret with a suffix"),
        (WEBHOOK_SECRET[:-1], "secret prefix"),
    ],
)
def test_bad_credentials_get_401_and_nothing_is_written(
    stack: Stack, lambda_context: Any, authorization: str | None, why: str
) -> None:
    status, answer = call(lambda_context, authorization=authorization)
    assert status == 401, why
    assert answer == {"error": "missing or wrong Authorization secret"}
    assert_nothing_written(stack)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ("{not json", 400, "body is not valid JSON"),
        ("", 400, "body is not valid JSON"),
        ("[1, 2]", 422, "body must be a JSON object"),
        ('"Bills"', 422, "body must be a JSON object"),
        ({"data": []}, 422, "dataDomain: a required field is missing"),
        ({"dataDomain": "Bills"}, 422, "data: a required field is missing"),
        ({"dataDomain": 7, "data": []}, 422, "dataDomain: Expected `str`, got `int`"),
        ({"dataDomain": "", "data": []}, 422, "dataDomain: Expected `str` matching regex"),
        # "~" and "#" would reach the hub's own partitions and key separators (D53)
        ({"dataDomain": "~ledger#M1", "data": [{"id": "B1"}]}, 422, "dataDomain: Expected `str` matching regex"),
        ({"dataDomain": "Bills#2024", "data": [{"id": "B1"}]}, 422, "dataDomain: Expected `str` matching regex"),
        ({"dataDomain": "B" * 65, "data": []}, 422, "dataDomain: Expected `str` matching regex"),
        ({"dataDomain": "Bills", "data": {"billId": "x"}}, 422, "data: Expected `array`, got `object`"),
        ({"dataDomain": "Bills", "data": [{"billId": "a"}, "b"]}, 422, "data[1]: Expected `object`, got `str`"),
        ({"dataDomain": "Bills", "data": [None]}, 422, "data[0]: Expected `object`, got `null`"),
    ],
)
def test_bodies_that_are_not_envelopes_are_rejected_naming_the_field(
    stack: Stack, lambda_context: Any, body: Any, status: int, message: str
) -> None:
    got_status, answer = call(lambda_context, body=body)
    assert got_status == status
    assert answer["error"].startswith(message)
    assert_nothing_written(stack)


def test_a_base64_body_that_is_not_utf8_gets_400(stack: Stack, lambda_context: Any) -> None:
    event = webhook_event("", merchant_id=MERCHANT, place_id=PLACE, authorization=WEBHOOK_SECRET)
    event["body"], event["isBase64Encoded"] = base64.b64encode(b"\xff\xfe{}").decode(), True
    response = webhook.lambda_handler(event, lambda_context)
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"].startswith("body is not valid JSON")
    assert_nothing_written(stack)


def test_empty_data_is_acknowledged_without_writing(stack: Stack, lambda_context: Any) -> None:
    status, answer = call(lambda_context, body={"dataDomain": "Bills", "data": []})
    assert status == 200 and answer["entities"] == 0
    assert_nothing_written(stack)


def test_a_body_over_the_limit_gets_413_and_nothing_is_written(
    stack: Stack, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_BODY_BYTES", "2000")
    body = {"dataDomain": "Bills", "data": [{"billId": f"B{i}", "note": "x" * 100} for i in range(30)]}
    status, answer = call(lambda_context, body=body)
    assert status == 413 and "exceeds the limit of 2000" in answer["error"]
    assert_nothing_written(stack)


def test_a_several_megabyte_backfill_is_acknowledged(stack: Stack, lambda_context: Any) -> None:
    bill = bills_body()["data"][0]
    data = [{**bill, "billId": f"TM{i:010d}"} for i in range(4000)]
    body = json.dumps({"dataDomain": "Bills", "data": data})
    assert len(body) > 4_000_000
    status, answer = call(lambda_context, body=body)
    assert status == 200 and answer["entities"] == 4000
    assert len(archived(stack)) == 1


def test_an_unknown_domain_is_accepted_archived_and_counted(
    stack: Stack, lambda_context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    status, answer = call(lambda_context, body={"dataDomain": "GiftCards/v2", "data": [{"id": "g1"}]})
    assert status == 200 and answer["dataDomain"] == "GiftCards/v2"
    [key] = archived(stack)
    assert f"/{PLACE}/GiftCards%2Fv2/" in key  # percent-encoded: one-to-one, no extra path level
    assert len(queued(stack)) == 1
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert any(m.get("UnknownDomainDeliveries") == [1.0] or m.get("UnknownDomainDeliveries") == 1.0 for m in emf)


def test_unknown_extra_envelope_fields_are_kept(stack: Stack, lambda_context: Any) -> None:
    body = {**bills_body(), "syncedAt": "2024-07-11T17:00:00Z", "batch": {"id": 7}}
    status, _ = call(lambda_context, body=body)
    assert status == 200
    [key] = archived(stack)
    raw = boto3.client("s3", region_name=REGION).get_object(Bucket=stack.raw_bucket, Key=key)["Body"].read()
    assert json.loads(raw)["batch"] == {"id": 7}


@pytest.mark.parametrize(
    "merchant_id",
    ["000000000000000000000000", "a%27%3B%20DROP", "%F0%9F%8D%95", "m" * 8192, "p%2F1", "..", "a%20b"],
)
def test_an_unknown_or_malformed_merchant_is_answered_as_a_wrong_secret(
    stack: Stack, lambda_context: Any, merchant_id: str
) -> None:
    # Merchant ids cannot be probed: the answer is the one a known merchant with a wrong secret gets.
    unknown = call(lambda_context, merchant_id=merchant_id)
    wrong_secret = call(lambda_context, authorization="not-the-secret")
    assert unknown == wrong_secret == (401, {"error": "missing or wrong Authorization secret"})
    assert_nothing_written(stack)


def test_unknown_merchants_are_remembered_boundedly(stack: Stack, lambda_context: Any) -> None:
    for n in range(3 * tenants.MAX_CACHED_UNKNOWN):
        assert call(lambda_context, merchant_id=f"probe{n:058d}")[0] == 401
    assert len(tenants._unknown) == tenants.MAX_CACHED_UNKNOWN


@pytest.mark.parametrize(
    ("place_id", "message"),
    [
        ("000000000000000000000000", f"unknown place 000000000000000000000000 for tenant {MERCHANT}"),
        ("pl%C3%A1ce%20%3Cscript%3E", f"unknown place pláce <script> for tenant {MERCHANT}"),
        ("bad%2Fplace", f"unknown place bad/place for tenant {MERCHANT}"),
        ("..", f"unknown place .. for tenant {MERCHANT}"),
    ],
)
def test_unknown_places_of_a_known_merchant_get_404(
    stack: Stack, lambda_context: Any, place_id: str, message: str
) -> None:
    status, answer = call(lambda_context, place_id=place_id)
    assert status == 404
    assert answer == {"error": message}
    assert_nothing_written(stack)


def test_a_disabled_place_gets_404(stack: Stack, lambda_context: Any) -> None:
    add_tenant(stack, "withdisabled", places={PLACE: Place(active=False)})
    status, _ = call(lambda_context, merchant_id="withdisabled")
    assert status == 404


@pytest.mark.parametrize("place_id", ["p/1", "bad/place", "..", "a b", "place:1~(a)", ""])
def test_a_place_id_outside_the_id_alphabet_cannot_be_configured(place_id: str) -> None:
    with pytest.raises(structs.Invalid):
        structs.convert(Tenant, {"tenant_id": MERCHANT, "name": "x", "places": {place_id: {}}})


def test_archive_keys_encode_ids_one_to_one() -> None:
    moment = datetime(2024, 7, 1, tzinfo=UTC)
    keys = {
        archive_key(MERCHANT, place, domain, moment, "0" * 64)
        for place, domain in [("bad_place", "Bills"), ("bad/place", "Bills"), ("p", "Gift/Cards"), ("p", "Gift_Cards")]
    }
    assert len(keys) == 4
    for key in keys:
        assert ".." not in key and key.count("/") == 7
        parts = parse_key(key)
        assert archive_key(parts.tenant_id, parts.place_id, parts.domain, moment, parts.sha256) == key


def test_a_valid_place_id_is_archived_under_itself(stack: Stack, lambda_context: Any) -> None:
    add_tenant(stack, "odd_merchant-1", places={"place_1-A": Place(name="odd")})
    status, _ = call(lambda_context, merchant_id="odd_merchant-1", place_id="place_1-A")
    assert status == 200
    [key] = archived(stack)
    assert key.startswith("raw/odd_merchant-1/place_1-A/Bills/")


def test_a_method_the_route_does_not_take_gets_json_405_and_nothing_is_written(
    stack: Stack, lambda_context: Any
) -> None:
    event = webhook_event(bills_body(), merchant_id=MERCHANT, place_id=PLACE, authorization=WEBHOOK_SECRET)
    event["httpMethod"] = "DELETE"
    response = webhook.lambda_handler(event, lambda_context)
    assert response["statusCode"] == 405 and json.loads(response["body"]) == {"error": "method DELETE not allowed here"}
    assert_nothing_written(stack)


def test_an_unknown_route_gets_json_404(stack: Stack, lambda_context: Any) -> None:
    event = webhook_event(bills_body(), merchant_id=MERCHANT, place_id=PLACE, authorization=WEBHOOK_SECRET)
    event["path"] = "/webhooks/other"
    response = webhook.lambda_handler(event, lambda_context)
    assert response["statusCode"] == 404 and json.loads(response["body"]) == {"error": "no such route"}


def _fail(service: str, operation: str) -> Any:
    def hook(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, operation)

    return f"before-call.{service}.{operation}", hook


def test_an_archive_failure_answers_503_and_enqueues_nothing(stack: Stack, lambda_context: Any) -> None:
    deps = webhook_logic.default_deps()
    deps.s3.meta.events.register(*_fail("s3", "PutObject"))
    status, answer = call(lambda_context)
    assert status == 503 and answer == {"error": "service temporarily unavailable"}
    assert queued(stack) == []


def test_a_queue_failure_answers_503_so_storyous_sends_again(stack: Stack, lambda_context: Any) -> None:
    deps = webhook_logic.default_deps()
    deps.sqs.meta.events.register(*_fail("sqs", "SendMessage"))
    status, _ = call(lambda_context)
    assert status == 503


def test_a_tenant_without_a_webhook_secret_is_an_operator_error(stack: Stack, lambda_context: Any) -> None:
    add_tenant(stack, "nosecret", secret={"other": "x"})
    status, answer = call(lambda_context, merchant_id="nosecret")
    assert status == 500 and answer == {"error": "internal error"}
    assert_nothing_written(stack)


def test_a_tenant_without_a_secret_is_an_operator_error(stack: Stack, lambda_context: Any, logs: LogCapture) -> None:
    add_tenant(stack, "nosecretatall")
    boto3.client("secretsmanager", region_name=REGION).delete_secret(
        SecretId="loyalty-hub/test/webhook/nosecretatall", ForceDeleteWithoutRecovery=True
    )
    status, answer = call(lambda_context, merchant_id="nosecretatall")
    assert status == 500 and answer == {"error": "internal error"}
    [line] = [entry for entry in logs.lines() if entry["message"] == "request failed"]
    assert line["error_class"] == "SecretMissing" and "does not exist" in line["exception"]  # a ConfigurationError
    assert_nothing_written(stack)


def test_log_lines_carry_tenant_place_domain_and_delivery_but_no_customer_data(
    stack: Stack, lambda_context: Any, logs: LogCapture
) -> None:
    call(lambda_context, place_id=OTHER_PLACE)
    [accepted] = [line for line in logs.lines() if line.get("message") == "delivery accepted"]
    assert accepted["tenant"] == MERCHANT and accepted["place"] == OTHER_PLACE
    assert accepted["domain"] == "Bills" and len(accepted["delivery_id"]) == 16
    assert "M4E6D346F7257504B" not in logs.text() and "Nováková" not in logs.text()


@pytest.mark.parametrize(
    ("entity", "message"),
    [
        ({"billId": "B" * 600}, "data[1].billId: an id of 600 bytes exceeds 512"),
        ({"billId": "B\u0000x"}, "data[1].billId: an id must not contain control characters"),
        ({"billId": {"nested": 1}}, "data[1].billId: an id must be a string or an integer, not dict"),
        ({"billId": "B9", "customerId": "C" * 3000}, "data[1].customerId: an id of 3000 bytes exceeds 512"),
        ({"billId": "B9", "customerId": ["C1"]}, "data[1].customerId: an id must be a string or an integer, not list"),
        ({"billId": True}, "data[1].billId: an id must be a string or an integer, not bool"),
    ],
)
def test_ids_no_key_can_hold_are_refused_naming_the_entity(
    stack: Stack, lambda_context: Any, entity: dict[str, Any], message: str
) -> None:
    body = {"dataDomain": "Bills", "data": [{"billId": "B1", "finalPrice": 1}, entity]}
    assert call(lambda_context, body=body) == (422, {"error": message})
    assert_nothing_written(stack)


def test_a_non_object_entity_is_refused_naming_it(stack: Stack, lambda_context: Any) -> None:
    status, answer = call(lambda_context, body={"dataDomain": "Bills", "data": [{"billId": "B1"}, "B2"]})
    assert status == 422 and answer["error"].startswith("data[1]:")
    assert_nothing_written(stack)


def test_what_only_ingest_can_judge_is_accepted(stack: Stack, lambda_context: Any) -> None:
    # A price no DynamoDB number holds, a version out of range: one bad record must not cost the delivery.
    body = {
        "dataDomain": "Bills",
        "data": [
            {"billId": "B1", "finalPrice": 1e200},
            {"billId": "B2", "finalPrice": 123456789012345678901234567890123456789},
            {"billId": "B3", "_lastModifiedAt": "0001-01-01T00:00:00+14:00"},
        ],
    }
    assert call(lambda_context, body=body)[0] == 200
