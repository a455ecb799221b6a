"""Property-based fuzzing of the customer API from its own OpenAPI document (schemathesis, in process).

Requests go through the API Gateway WSGI adapter to the real handler; DynamoDB, S3 and Secrets Manager are
moto. Every generated request must get an answer that is not a 5xx and that conforms to the document.
"""

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from moto import mock_aws
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.test import Client

from functions.customer_api import app as customer_api_app
from loyalty_hub.api import OPENAPI_PATH
from loyalty_hub.logic import ingest
from loyalty_hub_dev.local.apigw import ApiGatewayWsgi, Route
from tests.support.deliveries import archive, bill
from tests.support.stack import MERCHANT, PLACE, add_tenant, create_stack, issue_api_key

_key: dict[str, str] = {}


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    with mock_aws():
        stack = create_stack()
        for name, value in stack.env().items():
            monkeypatch.setenv(name, value)
        add_tenant(stack)
        _key["value"] = issue_api_key()
        data = [
            bill(f"B{i}", f"C{i}", f"{i}.5", "2024-07-01T10:00:00+02:00", "2024-07-01T10:00:01Z", categories=(None,))
            for i in range(30)
        ]
        ingest.ingest_delivery(ingest.default_deps(), archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", data))
        handler = customer_api_app.lambda_handler
        app = ApiGatewayWsgi(
            [
                Route("GET", "/api/v1/customer/{customer_id}", handler),
                Route("GET", "/api/v1/customers", handler),
                Route("GET", OPENAPI_PATH, handler),
            ]
        )
        yield Client(app)


# The document the function serves, read as a file: no AWS at hand is needed.
schema = schemathesis.openapi.from_path(str(customer_api_app.OPENAPI_DOCUMENT))


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_every_answer_matches_the_document(case: Any, api: Client) -> None:
    response = api.open(
        case.formatted_path,
        method=case.method,
        query_string=case.query,
        headers={**(case.headers or {}), "Authorization": f"Bearer {_key['value']}"},
    )
    assert response.status_code < 500, response.get_data(as_text=True)
    case.validate_response(
        response,
        checks=[
            content_type_conformance,
            response_schema_conformance,
            status_code_conformance,
            negative_data_rejection,
        ],
    )
