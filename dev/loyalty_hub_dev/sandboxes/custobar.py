"""A Custobar sandbox. Customers are checked against shared/vendor-docs/custobar-customers-api.txt
(cited as "doc L<n>"): `{"customers": [...]}` (L72-79), each identified by external_id, phone_number or
email (L9-15), external_id of letters, digits and dashes (L13), phone_number country-prefixed (L14),
only the documented fields (L13-49, with their types: booleans, dates, lists) or company fields
`<prefix>__<name>` (L50-51), `tags.add`/`mailing_lists.remove` (L54-64), `is_deleted` (L68-70); `""`
removes a key (L8), so it is stored as a removal. `is_forgotten: true` anonymises the customer (L30): the
record keeps its external_id and the flag only, and no later upload unforgets it (L30); the document is
silent on what a later upload's other fields do, so they are kept (D47). Sales follow
vendor-reference.md §3.4 (the sales page is not in vendor-docs/): sale_external_id, sale_date with an
offset, money in integer cents.
The document is silent on error bodies, the batch limit and unknown fields: this sandbox answers
`400 {"error": {"reason": ...}}` naming the field (never its value), takes at most 500 records (the
limit Custobar's plugins keep), and refuses an undocumented field that has no company prefix
(docs/decisions.md D32). It answers `{"response": "ok"}` and keeps every accepted record. `faults`
decides, per request, to answer 429, 5xx or 4xx, or to hang past the client's timeout."""

import base64
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from werkzeug.wrappers import Request, Response

MAX_RECORDS = 500
EXTERNAL_ID = re.compile(r"^[A-Za-z0-9-]+$")  # doc L13
E164 = re.compile(r"^\+[1-9]\d{6,14}$")  # doc L14: "+358101234567"
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")  # doc L34: birth_date "1991-06-14"
STRINGS = frozenset(
    {"external_id", "phone_number", "email", "canonical_id", "first_name", "last_name", "shop_id", "city",
     "company", "country", "gender", "house_number", "house_number_addition", "language", "province",
     "street_address", "street_name", "vat_number", "zip_code", "date_joined", "last_login", "birth_date"}
)  # fmt: skip  # doc L13-49
BOOLEANS = frozenset({"can_email", "can_post", "can_profile", "can_push", "can_sms", "is_forgotten", "is_deleted"})
LISTS = frozenset({"mailing_lists", "tags", "tags.add", "tags.remove", "mailing_lists.add", "mailing_lists.remove"})
Fault = Callable[[Request], str | None]  # None, "429", "500", "503", "400", "timeout"


@dataclass
class CustobarSandbox:
    token: str  # for Basic, "<username>:<password>"
    scheme: str = "Token"
    money_fields: tuple[str, ...] = ("__total_sales", "__last_order_value")
    faults: Fault = lambda _: None
    retry_after: str = "0"  # seconds, sent with every 429
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    sales: dict[str, dict[str, Any]] = field(default_factory=dict)
    arrived: dict[str, float] = field(default_factory=dict)  # "<kind>/<external_id>" -> epoch seconds, last upload
    requests: list[tuple[str, int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self._answer(request)
        with self._lock:
            self.requests.append((request.path, response.status_code))
        return response(environ, start_response)

    def _answer(self, request: Request) -> Response:
        if request.path == "/_sandbox/received":  # for people and tests: what Custobar would now hold
            with self._lock:
                held = {"customers": self.customers, "sales": self.sales, "arrived": self.arrived}
                return _json(200, {**held, "requests": self.requests})
        credential = base64.b64encode(self.token.encode()).decode() if self.scheme == "Basic" else self.token
        if request.headers.get("Authorization") != f"{self.scheme} {credential}":
            return _json(401, {"detail": "Authentication credentials were not provided or are invalid."})
        kind = {"/api/customers/upload/": "customers", "/api/sales/upload/": "sales"}.get(request.path)
        if request.method != "POST" or kind is None:
            return _json(404, {"detail": "Not found."})
        faulted = _fault_answer(self.faults(request), self.retry_after)
        if faulted is not None:
            return faulted
        return self._upload(kind, request)

    def _upload(self, kind: str, request: Request) -> Response:
        try:
            body = orjson.loads(request.get_data())
        except orjson.JSONDecodeError:
            return _json(400, {"error": {"reason": "Request body is not JSON"}})
        records = body.get(kind) if isinstance(body, dict) else None
        if not isinstance(records, list) or not records:
            return _json(400, {"error": {"reason": f"expected {{'{kind}': [...]}}"}})
        if len(records) > MAX_RECORDS:
            return _json(400, {"error": {"reason": f"at most {MAX_RECORDS} records per request"}})
        problem = next((p for r in records if (p := self._invalid(kind, r))), None)
        if problem:
            return _json(400, {"error": {"reason": problem}})
        with self._lock:
            now = time.time()
            for record in records:
                self.arrived[f"{kind}/{record['external_id']}"] = now
                if kind == "customers":
                    self._keep_customer(record)
                else:
                    self.sales[record["external_id"]] = record
        return _json(200, {"response": "ok", "id": len(self.requests)})

    def _keep_customer(self, record: dict[str, Any]) -> None:
        held = self.customers.setdefault(record["external_id"], {})
        forgotten = held.get("is_forgotten") is True
        if record.get("is_forgotten") is True:  # doc L30: anonymise all personally identifiable data
            held.clear()
            forgotten = True
        held.update(record)
        if forgotten:  # doc L30: "cannot be unforgotten"
            held["is_forgotten"] = True

    def _invalid(self, kind: str, record: dict[str, Any]) -> str | None:
        if kind == "customers":
            return self._invalid_customer(record)
        for name in ("sale_external_id", "sale_date", "external_id"):
            if not record.get(name):
                return f"{name} is required"
        if not re.search(r"(Z|[+-]\d\d:\d\d)$", record["sale_date"]):
            return f"sale_date needs an offset: {record['sale_date']!r}"
        for name in ("sale_total", "unit_price", "total"):
            if name in record and not isinstance(record[name], int):
                return f"{name} is money: integer cents"
        return None

    def _invalid_customer(self, record: dict[str, Any]) -> str | None:
        if not any(record.get(k) for k in ("external_id", "phone_number", "email")):
            return "a customer needs external_id, phone_number or email"
        if "external_id" in record and not EXTERNAL_ID.fullmatch(str(record["external_id"])):
            return "external_id must be letters, digits and dashes"
        phone = record.get("phone_number")
        if phone and not E164.fullmatch(str(phone)):
            return "phone_number must be in a country prefixed format"
        if record.get("birth_date") and not DATE.fullmatch(str(record["birth_date"])):
            return "birth_date must be year-month-day"
        return next((p for name, value in record.items() if (p := self._invalid_field(name, value))), None)

    def _invalid_field(self, name: str, value: Any) -> str | None:
        if "__" in name:
            money = name.endswith(self.money_fields) and value != ""
            return f"{name} is money: integer cents" if money and not isinstance(value, int) else None
        for names, kind, what in ((BOOLEANS, bool, "a boolean"), (LISTS, list, "a list"), (STRINGS, str, "a string")):
            if name in names:
                return None if isinstance(value, kind) else f"{name} must be {what}"
        return f"unknown field {name}: company fields are <prefix>__<name>"


def _fault_answer(fault: str | None, retry_after: str) -> Response | None:
    """What Custobar answers when a test (or `make run`) asks for a fault; None for the normal answer."""
    answers = {
        "timeout": (504, {"detail": "timeout"}),  # the test transport turns this into a client timeout
        "500": (500, {"detail": "Server error"}),
        "502": (502, {"detail": "Server error"}),
        "503": (503, {"detail": "Server error"}),
        "not-ok": (200, {"response": "error", "error": {"reason": "company quota exceeded"}}),  # 2xx, refused
        "400": (400, {"error": {"reason": "Invalid data for field 'email'"}}),
    }
    if fault == "429":
        return _json(429, {"detail": "Request was throttled."}, {"Retry-After": retry_after})
    if fault in answers:
        return _json(*answers[fault])
    return None


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status=status, headers=headers, content_type="application/json")
