"""The Storyous REST sandbox: client-credentials tokens with `expires_at`, Bearer auth on bills, keyset paging
newest first with `nextPage` absent on the last page, `modifiedSince`, detail with items, 404/400s, and 429s."""

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from loyalty_hub_dev.sandboxes.storyous import StoryousSandbox
from tests.support.wsgi_transport import SandboxHttp

LOGIN = "https://login.storyous.com/api/auth/authorize"
API = "https://api.storyous.com"
MERCHANT, PLACE = "5ae1c0ffee", "5be2d00d"
BILLS = f"{API}/bills/{MERCHANT}-{PLACE}"
NOON = datetime(2026, 11, 26, 12, tzinfo=UTC)
CREDENTIALS = {"client_id": "hub", "client_secret": "s3cret", "grant_type": "client_credentials"}


class Clock:
    def __init__(self) -> None:
        self.now = NOON.timestamp()

    def __call__(self) -> float:
        return self.now


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def bill(bill_id: str, paid_at: datetime | None, modified_at: datetime | None = None, **extra: Any) -> dict[str, Any]:
    created = paid_at or NOON
    return {
        "billId": bill_id,
        "customerId": "C1",
        "finalPrice": 129.5,
        "paidAt": iso(paid_at) if paid_at else None,
        "createdAt": iso(created - timedelta(minutes=5)),
        "currencyCode": "CZK",
        "refunded": False,
        "_lastModifiedAt": iso(modified_at or created),
        "items": [
            {"name": "Flat white", "amount": 2, "price": 64.75, "productId": "P-1", "categoryId": "coffee"},
        ],
        **extra,
    }


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sandbox(clock: Clock) -> StoryousSandbox:
    sandbox = StoryousSandbox(client_id="hub", client_secret="s3cret", clock=clock)
    sandbox.add_place(MERCHANT, PLACE)
    return sandbox


@pytest.fixture
def http(sandbox: StoryousSandbox) -> SandboxHttp:
    return SandboxHttp(sandbox)


def token(http: SandboxHttp) -> str:
    response = http.post(LOGIN, data=CREDENTIALS)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


def follow(http: SandboxHttp, access_token: str, url: str) -> list[dict[str, Any]]:
    """Every page from `url` on, following nextPage until it is absent."""
    pages: list[dict[str, Any]] = []
    for _ in range(50):  # bounded: a cursor that never advances must fail, not hang
        response = http.get(url, headers=bearer(access_token))
        assert response.status_code == 200, response.text
        pages.append(response.json())
        if "nextPage" not in pages[-1]:
            return pages
        url = API + pages[-1]["nextPage"]
    raise AssertionError(f"nextPage never ended: {[page.get('nextPage') for page in pages[:3]]}")


# ------------------------------------------------------------------------------------------ token
def test_a_token_is_issued_with_expires_at_from_the_clock(http: SandboxHttp, sandbox: StoryousSandbox) -> None:
    first = http.post(LOGIN, data=CREDENTIALS)
    assert first.status_code == 200
    body = first.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_at"] == "2026-11-26T13:00:00.000Z"
    assert "expires_in" not in body
    assert len(body["access_token"]) >= 32
    assert token(http) != body["access_token"]
    assert sandbox.token_requests == 2


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({**CREDENTIALS, "client_id": "someone-else"}, 401, "invalid_client"),
        ({**CREDENTIALS, "client_secret": "guess"}, 401, "invalid_client"),
        ({"client_id": "hub", "client_secret": "s3cret"}, 400, "unsupported_grant_type"),
        ({**CREDENTIALS, "grant_type": "password"}, 400, "unsupported_grant_type"),
    ],
)
def test_a_token_needs_the_app_credentials_and_the_client_credentials_grant(
    http: SandboxHttp, sandbox: StoryousSandbox, form: dict[str, str], status: int, error: str
) -> None:
    response = http.post(LOGIN, data=form)
    assert (response.status_code, response.json()) == (status, {"error": error})
    assert "access_token" not in response.json()
    assert sandbox.token_requests == 1


def test_the_token_endpoint_wants_a_form_not_json(http: SandboxHttp) -> None:
    response = http.post(LOGIN, json=CREDENTIALS)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


# ------------------------------------------------------------------------------------------ bearer auth
def test_bills_need_a_bearer_token_the_sandbox_issued(http: SandboxHttp, sandbox: StoryousSandbox) -> None:
    access_token = token(http)
    for headers in (
        {},
        bearer("not-issued"),
        {"Authorization": access_token},
        {"Authorization": f"Basic {access_token}"},
    ):
        response = http.get(BILLS, headers=headers)
        assert (response.status_code, response.json()) == (401, {"error": "invalid_token"})
    assert (sandbox.unauthorized, sandbox.list_requests) == (4, 0)
    assert http.get(BILLS, headers=bearer(access_token)).status_code == 200
    assert sandbox.list_requests == 1


def test_expire_tokens_makes_every_issued_token_401(http: SandboxHttp, sandbox: StoryousSandbox) -> None:
    sandbox.put_bill(MERCHANT, PLACE, bill("B1", NOON))
    old = [token(http), token(http)]
    sandbox.expire_tokens()
    for access_token in old:
        assert http.get(BILLS, headers=bearer(access_token)).status_code == 401
        assert http.get(f"{BILLS}/B1", headers=bearer(access_token)).status_code == 401
    assert sandbox.unauthorized == 4
    assert http.get(f"{BILLS}/B1", headers=bearer(token(http))).status_code == 200
    assert sandbox.detail_requests == 1


def test_a_token_expires_when_the_clock_reaches_expires_at(http: SandboxHttp, clock: Clock) -> None:
    issued_at = clock.now
    access_token = token(http)
    clock.now = issued_at + 3599.9
    assert http.get(BILLS, headers=bearer(access_token)).status_code == 200
    clock.now = issued_at + 3600
    response = http.get(BILLS, headers=bearer(access_token))
    assert (response.status_code, response.json()) == (401, {"error": "invalid_token"})


def test_token_lifetime_follows_token_ttl_seconds(clock: Clock) -> None:
    http = SandboxHttp(StoryousSandbox(client_id="hub", client_secret="s3cret", token_ttl_seconds=90, clock=clock))
    assert http.post(LOGIN, data=CREDENTIALS).json()["expires_at"] == "2026-11-26T12:01:30.000Z"


# ------------------------------------------------------------------------------------------ listing and paging
def test_keyset_paging_gives_every_bill_once_newest_first_without_items(
    http: SandboxHttp, sandbox: StoryousSandbox
) -> None:
    # Paid times are a permutation of the ids, so newest-first cannot be mistaken for id order.
    stored = [bill(f"TM{n:04d}", NOON - timedelta(minutes=(n * 7) % 45)) for n in range(45)]
    for each in random.Random(4).sample(stored, len(stored)):
        sandbox.put_bill(MERCHANT, PLACE, each)

    pages = follow(http, token(http), f"{BILLS}?limit=20")

    assert [len(page["data"]) for page in pages] == [20, 20, 5]
    assert all(page["ok"] == 1 for page in pages)
    listed = [row for page in pages for row in page["data"]]
    expected = sorted(stored, key=lambda b: (b["paidAt"], b["billId"]), reverse=True)
    assert [row["billId"] for row in listed] == [b["billId"] for b in expected]
    assert all("items" not in row for row in listed)
    assert listed[0] == {name: value for name, value in expected[0].items() if name != "items"}
    assert pages[0]["nextPage"] == f"/bills/{MERCHANT}-{PLACE}?limit=20&lastBillId={listed[19]['billId']}"
    assert sandbox.list_requests == 3


def test_next_page_is_absent_when_the_last_page_is_exactly_full(http: SandboxHttp, sandbox: StoryousSandbox) -> None:
    for n in range(40):
        sandbox.put_bill(MERCHANT, PLACE, bill(f"B{n:02d}", NOON + timedelta(seconds=n)))
    pages = follow(http, token(http), f"{BILLS}?limit=20")
    assert [len(page["data"]) for page in pages] == [20, 20]
    assert "nextPage" in pages[0]


def test_limit_defaults_to_20(http: SandboxHttp, sandbox: StoryousSandbox) -> None:
    for n in range(21):
        sandbox.put_bill(MERCHANT, PLACE, bill(f"B{n:02d}", NOON + timedelta(seconds=n)))
    body = http.get(BILLS, headers=bearer(token(http))).json()
    assert len(body["data"]) == 20
    assert body["nextPage"] == f"/bills/{MERCHANT}-{PLACE}?lastBillId=B01"


def test_order_falls_back_to_created_at_and_breaks_ties_by_bill_id(http: SandboxHttp, sandbox: StoryousSandbox) -> None:
    sandbox.put_bill(MERCHANT, PLACE, bill("A", NOON))
    sandbox.put_bill(MERCHANT, PLACE, bill("C", NOON))
    sandbox.put_bill(MERCHANT, PLACE, bill("B", NOON))
    unpaid = bill("Z", None) | {"createdAt": iso(NOON + timedelta(hours=1))}
    sandbox.put_bill(MERCHANT, PLACE, unpaid)
    sandbox.put_bill(MERCHANT, PLACE, bill("Y", NOON - timedelta(seconds=1)))
    data = http.get(BILLS, headers=bearer(token(http))).json()["data"]
    assert [row["billId"] for row in data] == ["Z", "C", "B", "A", "Y"]


def test_paging_across_a_tie_neither_skips_nor_repeats(http: SandboxHttp, sandbox: StoryousSandbox) -> None:
    for bill_id in ("T1", "T2", "T3", "T4", "T5"):
        sandbox.put_bill(MERCHANT, PLACE, bill(bill_id, NOON))
    pages = follow(http, token(http), f"{BILLS}?limit=2")
    assert [[row["billId"] for row in page["data"]] for page in pages] == [["T5", "T4"], ["T3", "T2"], ["T1"]]


def test_modified_since_compares_instants_and_is_kept_in_next_page(http: SandboxHttp, sandbox: StoryousSandbox) -> None:
    for n in range(6):
        sandbox.put_bill(MERCHANT, PLACE, bill(f"B{n}", NOON - timedelta(days=n), NOON + timedelta(minutes=n)))
    # 14:02+02:00 is 12:02Z: B2 (equal, inclusive) and later; a string comparison would keep none of "…Z" stamps.
    since = "2026-11-26T14:02:00+02:00"
    access_token = token(http)
    pages = follow(http, access_token, f"{BILLS}?modifiedSince={quote(since)}&limit=2")
    assert [[row["billId"] for row in page["data"]] for page in pages] == [["B2", "B3"], ["B4", "B5"]]
    query = parse_qs(urlsplit(pages[0]["nextPage"]).query)
    assert query == {"modifiedSince": [since], "limit": ["2"], "lastBillId": ["B3"]}
    zulu = http.get(BILLS, params={"modifiedSince": "2026-11-26T12:04:00Z"}, headers=bearer(access_token))
    assert [row["billId"] for row in zulu.json()["data"]] == ["B4", "B5"]


def test_last_bill_id_is_a_keyset_cursor_even_when_the_filters_exclude_that_bill(
    http: SandboxHttp, sandbox: StoryousSandbox
) -> None:
    for n in range(5):
        sandbox.put_bill(MERCHANT, PLACE, bill(f"B{n}", NOON - timedelta(hours=n), NOON + timedelta(minutes=n % 2)))
    # B1 and B3 were modified at 12:01; resuming after B2 (modified at 12:00) must still find B3 and not B1.
    query = {"modifiedSince": "2026-11-26T12:01:00Z", "lastBillId": "B2"}
    data = http.get(BILLS, params=query, headers=bearer(token(http))).json()["data"]
    assert [row["billId"] for row in data] == ["B3"]


def test_a_place_without_bills_lists_one_empty_last_page(http: SandboxHttp) -> None:
    response = http.get(BILLS, headers=bearer(token(http)))
    assert (response.status_code, response.json()) == (200, {"data": [], "ok": 1})


def test_put_bill_replaces_by_bill_id_and_keeps_its_own_copy(http: SandboxHttp, sandbox: StoryousSandbox) -> None:
    sandbox.put_bill(MERCHANT, PLACE, bill("B1", NOON))
    replacement = bill("B1", NOON, finalPrice=99.0)
    sandbox.put_bill(MERCHANT, PLACE, replacement)
    replacement["items"].clear()
    access_token = token(http)
    data = http.get(BILLS, headers=bearer(access_token)).json()["data"]
    assert [(row["billId"], row["finalPrice"]) for row in data] == [("B1", 99.0)]
    assert len(http.get(f"{BILLS}/B1", headers=bearer(access_token)).json()["items"]) == 1
    assert http.get(f"{API}/_sandbox/received").json()["bills"] == 1


def test_put_bill_adds_a_new_place_and_refuses_times_without_offset(sandbox: StoryousSandbox) -> None:
    sandbox.put_bill("M2", "P9", bill("B1", NOON))
    http = SandboxHttp(sandbox)
    assert http.get(f"{API}/bills/M2-P9", headers=bearer(token(http))).json()["data"][0]["billId"] == "B1"
    with pytest.raises(ValueError, match="paidAt"):
        sandbox.put_bill(MERCHANT, PLACE, bill("B2", NOON) | {"paidAt": "2026-11-26T12:00:00"})


# ------------------------------------------------------------------------------------------ detail and 404s
def test_the_detail_has_the_items(http: SandboxHttp, sandbox: StoryousSandbox) -> None:
    stored = bill("B1", NOON)
    sandbox.put_bill(MERCHANT, PLACE, stored)
    response = http.get(f"{BILLS}/B1", headers=bearer(token(http)))
    assert response.status_code == 200
    assert response.json() == stored
    assert response.json()["items"][0]["productId"] == "P-1"
    assert (sandbox.detail_requests, sandbox.list_requests) == (1, 0)


@pytest.mark.parametrize(
    "url", [f"{BILLS}/nope", f"{API}/bills/{MERCHANT}-other", f"{API}/bills/{MERCHANT}-other/B1", f"{API}/bills/x"]
)
def test_unknown_places_and_bills_are_404(http: SandboxHttp, sandbox: StoryousSandbox, url: str) -> None:
    sandbox.put_bill(MERCHANT, PLACE, bill("B1", NOON))
    response = http.get(url, headers=bearer(token(http)))
    assert (response.status_code, response.json()) == (404, {"message": "Not found"})


@pytest.mark.parametrize(
    ("method", "url"), [("GET", f"{API}/merchants/{MERCHANT}"), ("POST", BILLS), ("GET", LOGIN), ("DELETE", BILLS)]
)
def test_anything_else_is_a_json_404_and_counts_nothing(
    http: SandboxHttp, sandbox: StoryousSandbox, method: str, url: str
) -> None:
    response = http.request(method, url, headers=bearer(token(http)))
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert (sandbox.list_requests, sandbox.unauthorized, sandbox.token_requests) == (0, 0, 1)


# ------------------------------------------------------------------------------------------ 400s
# The last is ten in Arabic-Indic digits, which int() would accept.
@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "", "2.5", "\u0661\u0660"])
def test_a_limit_outside_1_to_100_is_400(http: SandboxHttp, limit: str) -> None:
    response = http.get(BILLS, params={"limit": limit}, headers=bearer(token(http)))
    assert response.status_code == 400
    assert "limit" in response.json()["message"]


@pytest.mark.parametrize("limit", ["1", "100"])
def test_limits_at_the_bounds_are_accepted(http: SandboxHttp, sandbox: StoryousSandbox, limit: str) -> None:
    for n in range(101):
        sandbox.put_bill(MERCHANT, PLACE, bill(f"B{n:03d}", NOON + timedelta(seconds=n)))
    response = http.get(BILLS, params={"limit": limit}, headers=bearer(token(http)))
    assert len(response.json()["data"]) == int(limit)


@pytest.mark.parametrize("since", ["yesterday", "2026-11-26T12:00:00", "2026-11-26", "2026-13-01T00:00:00Z"])
def test_modified_since_must_be_an_iso_datetime_with_offset(http: SandboxHttp, since: str) -> None:
    response = http.get(BILLS, params={"modifiedSince": since}, headers=bearer(token(http)))
    assert response.status_code == 400
    assert "modifiedSince" in response.json()["message"]


def test_an_unknown_last_bill_id_is_400(http: SandboxHttp, sandbox: StoryousSandbox) -> None:
    sandbox.put_bill(MERCHANT, PLACE, bill("B1", NOON))
    sandbox.put_bill("M2", "P9", bill("OTHER", NOON))
    for cursor in ("nope", "OTHER"):  # a bill of another place is no cursor here
        response = http.get(BILLS, params={"lastBillId": cursor}, headers=bearer(token(http)))
        assert response.status_code == 400
        assert cursor in response.json()["message"]


# ------------------------------------------------------------------------------------------ 429s
def test_throttle_next_refuses_that_many_requests_with_retry_after(http: SandboxHttp, sandbox: StoryousSandbox) -> None:
    access_token = token(http)
    sandbox.throttle_next(2, retry_after=7)
    first = http.get(BILLS, headers=bearer(access_token))
    second = http.post(LOGIN, data=CREDENTIALS)
    for response in (first, second):
        assert (response.status_code, response.json()) == (429, {"error": "TooManyRequests"})
        assert response.headers["Retry-After"] == "7"
    assert http.get(f"{API}/_sandbox/received").status_code == 200  # not an API request: no throttle spent
    assert http.get(BILLS, headers=bearer(access_token)).status_code == 200
    assert (sandbox.throttled, sandbox.token_requests, sandbox.list_requests) == (2, 1, 1)


def test_throttle_next_replaces_what_is_pending_and_zero_cancels(http: SandboxHttp, sandbox: StoryousSandbox) -> None:
    access_token = token(http)
    sandbox.throttle_next(3)
    sandbox.throttle_next(1, retry_after=2)
    assert [http.get(BILLS, headers=bearer(access_token)).status_code for _ in range(2)] == [429, 200]
    sandbox.throttle_next(5)
    sandbox.throttle_next(0)
    assert http.get(BILLS, headers=bearer(access_token)).status_code == 200
    assert sandbox.throttled == 1


def test_requests_per_second_refuses_the_extra_request_in_any_second(clock: Clock) -> None:
    sandbox = StoryousSandbox(client_id="hub", client_secret="s3cret", requests_per_second=3, clock=clock)
    sandbox.add_place(MERCHANT, PLACE)
    http = SandboxHttp(sandbox)
    start = clock.now
    access_token = token(http)  # the token endpoint spends the same budget
    clock.now = start + 0.4
    assert [http.get(BILLS, headers=bearer(access_token)).status_code for _ in range(2)] == [200, 200]
    refused = http.get(BILLS, headers=bearer(access_token))
    assert (refused.status_code, refused.json()) == (429, {"error": "TooManyRequests"})
    assert refused.headers["Retry-After"] == "1"
    assert http.get(f"{API}/_sandbox/received").json()["throttled"] == 1
    clock.now = start + 0.999  # 0.999 s after the token request: still three in the last second
    assert http.post(LOGIN, data=CREDENTIALS).status_code == 429
    clock.now = start + 1.0  # the token request has left the window: exactly one slot
    assert [http.get(BILLS, headers=bearer(access_token)).status_code for _ in range(2)] == [200, 429]
    assert (sandbox.throttled, sandbox.token_requests, sandbox.list_requests) == (3, 1, 3)


def test_without_requests_per_second_there_is_no_limit(http: SandboxHttp, sandbox: StoryousSandbox) -> None:
    access_token = token(http)
    assert {http.get(BILLS, headers=bearer(access_token)).status_code for _ in range(50)} == {200}
    assert sandbox.throttled == 0


# ------------------------------------------------------------------------------------------ received
def test_received_reports_every_counter_and_the_bill_total(http: SandboxHttp, sandbox: StoryousSandbox) -> None:
    sandbox.put_bill(MERCHANT, PLACE, bill("B1", NOON))
    sandbox.put_bill("M2", "P9", bill("B2", NOON))
    access_token = token(http)
    http.post(LOGIN, data={**CREDENTIALS, "client_secret": "guess"})
    http.get(BILLS, headers=bearer(access_token))
    http.get(f"{BILLS}/B1", headers=bearer(access_token))
    http.get(f"{BILLS}/B1")
    sandbox.throttle_next(1)
    http.get(BILLS, headers=bearer(access_token))
    assert http.get(f"{API}/_sandbox/received").json() == {
        "token_requests": 2,
        "list_requests": 1,
        "detail_requests": 1,
        "throttled": 1,
        "unauthorized": 1,
        "bills": 2,
    }


def test_bills_can_be_put_over_http_for_a_stack_in_another_process(sandbox: StoryousSandbox) -> None:
    http = SandboxHttp(sandbox)
    first, second = bill("B-1", NOON - timedelta(hours=2)), bill("B-2", NOON - timedelta(hours=1))
    assert http.post(f"{API}/_sandbox/bills/{MERCHANT}-{PLACE}", json=first).json() == {"stored": 1}
    assert http.post(f"{API}/_sandbox/bills/{MERCHANT}-{PLACE}", json=[first, second]).json() == {"stored": 2}
    refused = http.post(f"{API}/_sandbox/bills/{MERCHANT}-{PLACE}", json=[{"billId": "B-3"}])
    assert refused.status_code == 400 and "paidAt or createdAt" in refused.json()["message"]
    assert http.get(f"{API}/_sandbox/received").json()["bills"] == 2
