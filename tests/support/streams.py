"""The customers table's DynamoDB stream as Lambda would deliver it.

moto's DynamoDB Streams endpoint does not answer this botocore's requests ("Not yet implemented"), so
the stream is reconstructed: the table is read before and after a change, and every item that differs
becomes a NEW_AND_OLD_IMAGES record, in key order.
"""

import itertools
from collections.abc import Callable
from typing import Any

import boto3

from tests.support.stack import REGION

_sequence = itertools.count(100_000_000_000_000_000_000)


def _items(table: str) -> dict[str, dict[str, Any]]:
    paginator = boto3.client("dynamodb", region_name=REGION).get_paginator("scan")
    return {item["pk"]["S"]: item for page in paginator.paginate(TableName=table) for item in page["Items"]}


def stream_event(table: str, change: Callable[[], object]) -> dict[str, Any]:
    """Runs `change`, then returns the stream records it caused, as one Lambda event."""
    before = _items(table)
    change()
    after = _items(table)
    records = []
    for pk in sorted(before.keys() | after.keys()):
        old, new = before.get(pk), after.get(pk)
        if old == new:
            continue
        data: dict[str, Any] = {
            "Keys": {"pk": {"S": pk}},
            "SequenceNumber": str(next(_sequence)),
            "SizeBytes": 100,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
        if new is not None:
            data["NewImage"] = new
        if old is not None:
            data["OldImage"] = old
        records.append(
            {
                "eventID": data["SequenceNumber"],
                "eventName": "INSERT" if old is None else "REMOVE" if new is None else "MODIFY",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": REGION,
                "dynamodb": data,
                "eventSourceARN": f"arn:aws:dynamodb:{REGION}:123456789012:table/{table}/stream/2024-07-01",
            }
        )
    return {"Records": records}
