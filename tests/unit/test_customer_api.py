"""DailyStory customer API through the real handler, customers put there by ingest, AWS in moto."""

import base64
import json
from copy import deepcopy
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest

from functions.customer_api import app as customer_api_app
from loyalty_hub.auth import hash_api_key
from loyalty_hub.dal import snapshots
from loyalty_hub.logic import customer_api, ingest
from loyalty_hub.models.customer import DAILYSTORY_FIELDS
from tests.support.deliveries import archive, bill
from tests.support.doubles import FixedClock
from tests.support.events import load
from tests.support.stack import MERCHANT, PLACE, Stack, add_tenant, issue_api_key, write_secrets

pytestmark = pytest.mark.usefixtures("tenant")


@pytest.fixture
def key(stack: Stack) -> str:
    return issue_api_key()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


def seed(stack: Stack, clock: FixedClock, customers: list[str], tenant: str = MERCHANT, price: str = "10") -> None:
    """One Bills delivery giving each customer one bill; all of them change at clock.now."""
    deps = ingest.default_deps()
    deps.clock = clock
    data = [
        bill(f"B-{tenant}-{c}-{clock.now.timestamp()}", c, price, "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01Z")
        for c in customers
    ]
    ingest.ingest_delivery(deps, archive(stack.raw_bucket, tenant, PLACE, "Bills", data))


def get(path: str, lambda_context: Any, authorization: str | None, query: dict[str, str] | None = None) -> Any:
    event = deepcopy(load("customer_api/list-customers.json"))
    event["path"] = path
    event["requestContext"]["path"] = f"/dev{path}"
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} if query else None
    headers = {k: v for k, v in event["headers"].items() if k != "Authorization"}
    if authorization is not None:
        headers["Authorization"] = authorization
    event["headers"], event["multiValueHeaders"] = headers, {k: [v] for k, v in headers.items()}
    response = customer_api_app.lambda_handler(event, lambda_context)
    return response["statusCode"], json.loads(response["body"]), response.get("multiValueHeaders", {})


def bearer(key: str) -> str:
    return f"Bearer {key}"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_one_customer_has_exactly_the_dailystory_fields(
    stack: Stack, clock: FixedClock, key: str, lambda_context: Any
) -> None:
    seed(stack, clock, ["M4E6D346F7257504B"])
    status, record, _ = get("/api/v1/customer/M4E6D346F7257504B", lambda_context, bearer(key))
    assert status == 200
    assert list(record) == [*DAILYSTORY_FIELDS, "last_updated"]
    assert record["id"] == "M4E6D346F7257504B" and record["total_orders"] == 1
    assert record["total_sales"] == 10 and isinstance(record["total_sales"], int)
    assert record["date_last_order"] == "2024-07-01T10:00:00+02:00"
    assert record["last_updated"] == "2024-07-12T10:00:00+02:00"  # 08:00 UTC in Europe/Prague
    assert record["first_name"] is None and record["allow_sms"] is False and record["categories"] == []


def test_money_keeps_its_cents_as_a_json_number(stack: Stack, clock: FixedClock, key: str, lambda_context: Any) -> None:
    seed(stack, clock, ["C1"], price="4118.01")
    _, record, _ = get("/api/v1/customer/C1", lambda_context, bearer(key))
    assert record["total_sales"] == 4118.01 and record["last_order_value"] == 4118.01


def test_an_unknown_id_is_404_in_dailystorys_words(stack: Stack, key: str, lambda_context: Any) -> None:
    status, body, _ = get("/api/v1/customer/244988", lambda_context, bearer(key))
    assert status == 404 and body == {"error": "No customer found for id 244988"}


def test_ids_with_odd_characters(stack: Stack, clock: FixedClock, key: str, lambda_context: Any) -> None:
    seed(stack, clock, ["a b/ç#1"])
    status, record, _ = get(f"/api/v1/customer/{quote('a b/ç#1', safe='')}", lambda_context, bearer(key))
    assert status == 200 and record["id"] == "a b/ç#1"


def test_basic_and_bearer_both_work(stack: Stack, clock: FixedClock, key: str, lambda_context: Any) -> None:
    seed(stack, clock, ["C1"])
    for authorization in (bearer(key), basic(MERCHANT, key), f"bearer   {key}"):
        status, _, _ = get("/api/v1/customer/C1", lambda_context, authorization)
        assert status == 200, authorization


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "missing or malformed credentials: use Basic or Bearer"),
        ("", "missing or malformed credentials: use Basic or Bearer"),
        ("Bearer", "missing or malformed credentials: use Basic or Bearer"),
        ("Token abc", "missing or malformed credentials: use Basic or Bearer"),
        ("Basic !!!", "missing or malformed credentials: use Basic or Bearer"),
        ("Basic " + base64.b64encode(b"no-colon").decode(), "missing or malformed credentials: use Basic or Bearer"),
        ("Basic " + base64.b64encode(b"\xff:\xfe").decode(), "missing or malformed credentials: use Basic or Bearer"),
        (f"Bearer {MERCHANT}.wrong", "invalid credentials"),
        ("Bearer unknowntenant.abcdef", "invalid credentials"),
        ("Bearer ../etc.passwd", "missing or malformed credentials: use Basic or Bearer"),
        ("Bearer a;b.c", "invalid credentials"),
    ],
)
def test_missing_or_wrong_credentials_get_401_with_a_challenge(
    stack: Stack, key: str, lambda_context: Any, authorization: str | None, message: str
) -> None:
    for path in ("/api/v1/customer/C1", "/api/v1/customers"):
        status, body, headers = get(path, lambda_context, authorization)
        assert status == 401 and body == {"error": message}
        assert headers["WWW-Authenticate"] == ['Basic realm="loyalty-hub", Bearer realm="loyalty-hub"']


def test_basic_user_must_be_the_keys_tenant(stack: Stack, key: str, lambda_context: Any) -> None:
    add_tenant(stack, "othertenant")
    status, _, _ = get("/api/v1/customers", lambda_context, basic("othertenant", key))
    assert status == 401


def test_a_revoked_key_stops_working(stack: Stack, key: str, lambda_context: Any) -> None:
    second = issue_api_key()
    assert get("/api/v1/customers", lambda_context, bearer(key))[0] == 200
    assert get("/api/v1/customers", lambda_context, bearer(second))[0] == 200


def test_a_tenants_key_never_reads_another_tenants_customers(
    stack: Stack, clock: FixedClock, key: str, lambda_context: Any
) -> None:
    add_tenant(stack, "othertenant")
    other_key = issue_api_key("othertenant")
    seed(stack, clock, ["SHARED", "ONLY-OTHER"], tenant="othertenant", price="99")
    seed(stack, clock, ["SHARED"], price="1")
    status, record, _ = get("/api/v1/customer/SHARED", lambda_context, bearer(key))
    assert status == 200 and record["total_sales"] == 1
    assert get("/api/v1/customer/ONLY-OTHER", lambda_context, bearer(key))[0] == 404
    _, page, _ = get("/api/v1/customers", lambda_context, bearer(key))
    assert [r["id"] for r in page["records"]] == ["SHARED"]
    _, page, _ = get("/api/v1/customers", lambda_context, bearer(other_key))
    assert sorted(r["id"] for r in page["records"]) == ["ONLY-OTHER", "SHARED"]


def test_pages_are_ordered_by_last_updated_then_id(
    stack: Stack, clock: FixedClock, key: str, lambda_context: Any
) -> None:
    seed(stack, clock, [f"C{i:02d}" for i in range(30)])
    clock.now += timedelta(hours=1)
    seed(stack, clock, ["A-late", "C05"])  # C05 changes again: it moves to the end
    _, first, _ = get("/api/v1/customers", lambda_context, bearer(key))
    assert (first["count"], first["start"], first["limit"]) == (31, 0, 25)
    _, second, _ = get("/api/v1/customers", lambda_context, bearer(key), {"start": "25"})
    ids = [r["id"] for r in first["records"] + second["records"]]
    expected = [f"C{i:02d}" for i in range(30) if i != 5] + ["A-late", "C05"]
    assert ids == expected


def test_last_updated_filters_at_or_after(stack: Stack, clock: FixedClock, key: str, lambda_context: Any) -> None:
    seed(stack, clock, ["OLD"])  # 2024-07-12 08:00 UTC
    clock.now += timedelta(hours=2)
    seed(stack, clock, ["NEW"])  # 10:00 UTC = 12:00 Prague
    cases = {
        "2024-07-12T10:00:00Z": ["NEW"],
        "2024-07-12T12:00:00+02:00": ["NEW"],
        "2024-07-12T12:00:00 02:00": ["NEW"],  # an unencoded '+' arrives as a space
        "2024-07-12T12:00:00": ["NEW"],  # no zone: the tenant's (Europe/Prague)
        "2024-07-12T12:00;00": ["NEW"],  # the vendor's own example form
        "2024-07-12T10:00:00.000001Z": [],
        "2024-07-12T09:59:59Z": ["NEW"],
        "2024-07-12": ["OLD", "NEW"],
        "2024-07-12T08:00:00Z": ["OLD", "NEW"],
    }
    for last_updated, expected in cases.items():
        _, page, _ = get("/api/v1/customers", lambda_context, bearer(key), {"last_updated": last_updated})
        assert [r["id"] for r in page["records"]] == expected, last_updated
        assert page["count"] == len(expected)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"limit": "501"}, "limit: Input should be less than or equal to 500"),
        ({"limit": "0"}, "limit: Input should be greater than or equal to 1"),
        ({"limit": "ten"}, "limit: Input should be a valid integer"),
        ({"start": "-1"}, "start: Input should be greater than or equal to 0"),
        ({"start": "1.5"}, "start: Input should be a valid integer"),
        ({"last_updated": "yesterday"}, "last_updated: not an ISO-8601 date or datetime: 'yesterday'"),
        ({"last_updated": "2024-13-01"}, "last_updated: not an ISO-8601 date or datetime: '2024-13-01'"),
        ({"last_updated": "9999-12-31T23:59:59-23:59"}, "last_updated: not an ISO-8601"),
    ],
)
def test_bad_parameters_get_400_naming_the_parameter(
    stack: Stack, key: str, lambda_context: Any, query: dict[str, str], message: str
) -> None:
    status, body, _ = get("/api/v1/customers", lambda_context, bearer(key), query)
    assert status == 400 and body["error"].startswith(message)


def test_limits_default_to_25_and_go_up_to_500(stack: Stack, clock: FixedClock, key: str, lambda_context: Any) -> None:
    seed(stack, clock, [f"C{i:03d}" for i in range(510)])
    _, page, _ = get("/api/v1/customers", lambda_context, bearer(key))
    assert page["limit"] == 25 and len(page["records"]) == 25 and page["count"] == 510
    _, page, _ = get("/api/v1/customers", lambda_context, bearer(key), {"limit": "500", "start": "10"})
    assert len(page["records"]) == 500 and page["records"][0]["id"] == "C010"
    _, page, _ = get("/api/v1/customers", lambda_context, bearer(key), {"start": "600"})
    assert page["records"] == [] and page["count"] == 510


def test_a_sync_returns_every_record_updated_before_it_began_while_records_change(
    stack: Stack, clock: FixedClock, key: str, lambda_context: Any
) -> None:
    customers = [f"C{i:03d}" for i in range(120)]
    seed(stack, clock, customers)
    seen: list[str] = []
    start = 0
    while True:
        _, page, _ = get("/api/v1/customers", lambda_context, bearer(key), {"start": str(start), "limit": "25"})
        seen += [r["id"] for r in page["records"]]
        start += 25
        if start >= page["count"]:
            break
        clock.now += timedelta(minutes=1)  # between pages, customers already served and not yet served change
        seed(stack, clock, [customers[start - 3], customers[start + 7], "NEW-DURING-SYNC"])
    assert sorted(seen) == customers  # each exactly once, none skipped


def test_a_cold_instance_continues_the_sync_from_the_stored_snapshot(
    stack: Stack, clock: FixedClock, key: str, lambda_context: Any
) -> None:
    seed(stack, clock, [f"C{i:04d}" for i in range(1200)])
    _, first, _ = get("/api/v1/customers", lambda_context, bearer(key), {"limit": "500"})
    snapshots.forget_all()  # the next request lands on another execution environment
    _, second, _ = get("/api/v1/customers", lambda_context, bearer(key), {"limit": "500", "start": "450"})
    assert [r["id"] for r in second["records"]] == [f"C{i:04d}" for i in range(450, 950)]
    assert first["records"][-1] == second["records"][49]


def test_an_expired_snapshot_is_taken_again(
    stack: Stack, clock: FixedClock, key: str, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(stack, clock, ["C1", "C2"])
    get("/api/v1/customers", lambda_context, bearer(key), {"limit": "1"})
    clock.now += timedelta(hours=1)
    seed(stack, clock, ["C3"])
    deps = customer_api.default_deps()
    monkeypatch.setattr(deps.snapshots, "_clock", lambda: 10**11)  # far past SNAPSHOT_TTL_SECONDS
    _, page, _ = get("/api/v1/customers", lambda_context, bearer(key), {"limit": "1", "start": "1"})
    assert page["count"] == 3


def test_the_openapi_document_is_public_and_describes_both_routes(stack: Stack, lambda_context: Any) -> None:
    status, document, _ = get("/api/v1/openapi.json", lambda_context, None)
    assert status == 200 and document["openapi"].startswith("3.")
    assert {"/api/v1/customer/{customer_id}", "/api/v1/customers"} <= set(document["paths"])
    assert set(document["components"]["securitySchemes"]) == {"basicAuth", "bearerAuth"}
    record = document["components"]["schemas"]["CustomerRecord"]["properties"]
    assert set(record) == {*DAILYSTORY_FIELDS, "last_updated"}


def test_the_sample_events_are_served(stack: Stack, clock: FixedClock, lambda_context: Any) -> None:
    issue_key = load("customer_api/get-customer.json")["headers"]["Authorization"].split()[1]
    write_secrets(MERCHANT, {"dailystory_key_hashes": [hash_api_key(issue_key)]})
    seed(stack, clock, ["M4E6D346F7257504B"])
    one = customer_api_app.lambda_handler(load("customer_api/get-customer.json"), lambda_context)
    assert one["statusCode"] == 200 and json.loads(one["body"])["id"] == "M4E6D346F7257504B"
    page = customer_api_app.lambda_handler(load("customer_api/list-customers.json"), lambda_context)
    assert page["statusCode"] == 200 and json.loads(page["body"])["count"] == 1
