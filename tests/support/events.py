"""The JSON events under events/, loaded and adjusted for a test."""

import json
from copy import deepcopy
from typing import Any

from loyalty_hub_dev.local.template import ROOT

EVENTS = ROOT / "events"


def load(relative: str) -> dict[str, Any]:
    return json.loads((EVENTS / relative).read_text())


def webhook_event(
    body: str | bytes | dict[str, Any],
    *,
    merchant_id: str,
    place_id: str,
    authorization: str | None,
    method: str = "POST",
) -> dict[str, Any]:
    """The API Gateway proxy event of events/webhook/bills-post.json with another body, path and header."""
    event = deepcopy(load("webhook/bills-post.json"))
    text = json.dumps(body) if isinstance(body, dict) else body
    if isinstance(text, bytes):
        text = text.decode()
    event["body"] = text
    event["httpMethod"] = event["requestContext"]["httpMethod"] = method
    event["path"] = f"/webhooks/storyous/{merchant_id}/{place_id}"
    event["requestContext"]["path"] = f"/dev{event['path']}"
    event["pathParameters"] = {"merchantId": merchant_id, "placeId": place_id}
    headers = {k: v for k, v in event["headers"].items() if k.lower() != "authorization"}
    if authorization is not None:
        headers["Authorization"] = authorization
    event["headers"] = headers
    event["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
    return event


def sqs_event(
    bodies: list[str],
    *,
    queue_arn: str = "arn:aws:sqs:eu-central-1:123456789012:ingest.fifo",
    group: str = "60b6512e66943300381c2d24",
) -> dict[str, Any]:
    template = load("ingest/sqs-delivery.json")["Records"][0]
    records = []
    for i, body in enumerate(bodies):
        record = deepcopy(template)
        record["messageId"] = f"00000000-0000-4000-8000-{i:012d}"
        record["body"] = body
        record["eventSourceARN"] = queue_arn
        record["attributes"]["MessageGroupId"] = group
        record["attributes"]["SequenceNumber"] = str(18_000_000_000_000_000_000 + i)
        records.append(record)
    return {"Records": records}
