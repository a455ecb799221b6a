"""The customer API's OpenAPI document, written at build time into functions/customer_api/openapi.json.

Built from the response models and the list route's limits in loyalty_hub.logic.customer_api, so the
function serves a file instead of generating it on every cold start (D43). `make openapi` rewrites it;
tests/unit/test_openapi.py fails when the committed file is not what this writes.
"""

import sys
from typing import Any

import msgspec
import orjson

from loyalty_hub.logic import customer_api as api
from loyalty_hub.models.customer import ApiError, CustomerRecord, CustomersPage
from loyalty_hub_dev.local.template import ROOT

TARGET = ROOT / "functions/customer_api/openapi.json"


def _json(description: str, model: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}},
    }


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


_ERRORS = {
    "401": _json("Missing or wrong credentials", "ApiError"),
    "503": _json("A dependency failed; retry later", "ApiError"),
}


def document() -> dict[str, Any]:
    _, schemas = msgspec.json.schema_components(
        (CustomerRecord, CustomersPage, ApiError), ref_template="#/components/schemas/{name}"
    )
    list_parameters = [
        _query(
            "last_updated",
            "ISO-8601; without an offset it is read in the tenant's time zone",
            {"type": "string", "maxLength": api.LAST_UPDATED_MAX_LENGTH},
        ),
        _query(
            "start",
            "Offset of the first record",
            {"type": "integer", "minimum": 0, "maximum": api.START_MAX, "default": 0},
        ),
        _query(
            "limit",
            "Records per page",
            {"type": "integer", "minimum": 1, "maximum": api.LIMIT_MAX, "default": api.LIMIT_DEFAULT},
        ),
    ]
    customer = {
        "tags": ["customers"],
        "summary": "One customer by id",
        "operationId": "get_customer",
        "parameters": [
            {"name": "customer_id", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        ],
        "responses": {
            "200": _json("The customer", "CustomerRecord"),
            **_ERRORS,
            "404": _json("No customer with that id", "ApiError"),
        },
    }
    customers = {
        "tags": ["customers"],
        "summary": "Customers changed at or after last_updated, ordered by (last_updated, id)",
        "operationId": "list_customers",
        "parameters": list_parameters,
        "responses": {
            "200": _json("One page of the matching customers", "CustomersPage"),
            "400": _json("A query parameter is invalid; the error names it", "ApiError"),
            **_ERRORS,
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "loyalty-hub customer API",
            "version": "1.0.0",
            "summary": "DailyStory Basic Integration Pattern over the hub's customers",
        },
        "paths": {"/api/v1/customer/{customer_id}": {"get": customer}, "/api/v1/customers": {"get": customers}},
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "basicAuth": {"type": "http", "scheme": "basic"},
                "bearerAuth": {"type": "http", "scheme": "bearer"},
            },
        },
        "security": [{"basicAuth": []}, {"bearerAuth": []}],
    }


def rendered() -> bytes:
    return orjson.dumps(document(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def main() -> None:
    TARGET.write_bytes(rendered())
    print(f"wrote {TARGET.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
