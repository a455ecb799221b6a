"""A Custobar sandbox: checks auth, body shape, batch size and field formats as Custobar documents them,
answers `{"response": "ok"}`, and keeps every accepted record. `faults` decides, per request, to answer
429, 5xx or 4xx, or to hang past the client's timeout (reported to the caller as "timeout")."""

import base64
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from werkzeug.wrappers import Request, Response

MAX_RECORDS = 500
EXTERNAL_ID = re.compile(r"^[A-Za-z0-9-]+$")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
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
                return _json(200, {"customers": self.customers, "sales": self.sales, "requests": self.requests})
        credential = base64.b64encode(self.token.encode()).decode() if self.scheme == "Basic" else self.token
        if request.headers.get("Authorization") != f"{self.scheme} {credential}":
            return _json(401, {"detail": "Authentication credentials were not provided or are invalid."})
        kind = {"/api/customers/upload/": "customers", "/api/sales/upload/": "sales"}.get(request.path)
        if request.method != "POST" or kind is None:
            return _json(404, {"detail": "Not found."})
        fault = self.faults(request)
        if fault == "timeout":
            return _json(504, {"detail": "timeout"})  # the test transport turns this into a client timeout
        if fault == "429":
            return _json(429, {"detail": "Request was throttled."}, {"Retry-After": self.retry_after})
        if fault in {"500", "502", "503"}:
            return _json(int(fault), {"detail": "Server error"})
        if fault == "not-ok":  # a 2xx that does not say ok is still a refusal
            return _json(200, {"response": "error", "error": {"reason": "company quota exceeded"}})
        if fault == "400":
            return _json(400, {"error": {"reason": "Invalid data for field 'email'"}})
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
            for record in records:
                if kind == "customers":
                    self.customers.setdefault(record["external_id"], {}).update(record)
                else:
                    self.sales[record["external_id"]] = record
        return _json(200, {"response": "ok", "id": len(self.requests)})

    def _invalid(self, kind: str, record: dict[str, Any]) -> str | None:
        if kind == "customers":
            if not EXTERNAL_ID.fullmatch(str(record.get("external_id", ""))):
                return f"external_id must be letters, digits and dashes: {record.get('external_id')!r}"
            phone = record.get("phone_number")
            if phone and not E164.fullmatch(phone):
                return f"phone_number must be E.164: {phone!r}"
            for name, value in record.items():
                if name.endswith(self.money_fields) and value != "" and not isinstance(value, int):
                    return f"{name} is money: integer cents, got {value!r}"
            return None
        for name in ("sale_external_id", "sale_date", "external_id"):
            if not record.get(name):
                return f"{name} is required"
        if not re.search(r"(Z|[+-]\d\d:\d\d)$", record["sale_date"]):
            return f"sale_date needs an offset: {record['sale_date']!r}"
        for name in ("sale_total", "unit_price", "total"):
            if name in record and not isinstance(record[name], int):
                return f"{name} is money: integer cents"
        return None


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status=status, headers=headers, content_type="application/json")
