"""BatchGetItem / BatchWriteItem with the unprocessed remainder retried (exponential backoff, full jitter).

botocore retries whole-request throttles; these loops handle what a successful response leaves undone.
DynamoDB's answers are classified by their error code: a refusal of the content (ValidationException)
is permanent and is pinned on the one item that caused it; anything else (throttling, 5xx, timeouts,
access) is `Unavailable`, and the caller's message is retried.
"""

import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from loyalty_hub.dal.codec import from_item
from loyalty_hub.errors import Refused, Unavailable
from loyalty_hub.limits import MAX_BATCH_GET_KEYS, MAX_BATCH_WRITE_ITEMS, item_problem

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

MAX_ROUNDS = 8
BASE_DELAY = 0.05
MAX_DELAY = 2.0

# Codes DynamoDB answers when the request's content can never be written; everything else may pass later.
PERMANENT_CODES = frozenset({"ValidationException", "ItemCollectionSizeLimitExceededException"})

Sleep = Callable[[float], None]


@dataclass(frozen=True)
class KeyAttributes:
    """The attributes that are keys of a table or of its indexes, so their lengths are checked."""

    partition: tuple[str, ...] = ()
    sort: tuple[str, ...] = ()


def classify(exc: ClientError | BotoCoreError, what: str) -> Refused | Unavailable:
    """The hub's error for a failed DynamoDB call, by the code AWS answered with."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in PERMANENT_CODES:
            # DynamoDB's message names the limit, never the item's values.
            return Refused("validation", f"DynamoDB refused the item: {str(error.get('Message', code))[:200]}")
        return Unavailable(f"{what} failed: {code or 'unknown error'}")
    return Unavailable(f"{what} failed: {type(exc).__name__}")


def _chunks[T](items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _backoff(round_: int, sleep: Sleep) -> None:
    sleep(random.uniform(0, min(MAX_DELAY, BASE_DELAY * 2**round_)))  # noqa: S311 - jitter, not crypto


def batch_get(
    client: "DynamoDBClient",
    table: str,
    keys: Sequence[dict[str, Any]],
    *,
    projection: str | None = None,
    names: dict[str, str] | None = None,
    consistent: bool = True,
    sleep: Sleep = time.sleep,
) -> list[dict[str, Any]]:
    """All items found for `keys` (raw attribute values), read strongly consistently unless told not to."""
    found: list[dict[str, Any]] = []
    for chunk in _chunks(keys, MAX_BATCH_GET_KEYS):
        request: dict[str, Any] = {"Keys": list(chunk), "ConsistentRead": consistent}
        if projection:
            request["ProjectionExpression"] = projection
        if names:
            request["ExpressionAttributeNames"] = names
        pending: dict[str, Any] = {table: request}
        for round_ in range(MAX_ROUNDS):
            try:
                response = client.batch_get_item(RequestItems=pending)
            except (ClientError, BotoCoreError) as exc:
                raise classify(exc, f"BatchGetItem on {table}") from exc
            found.extend(response.get("Responses", {}).get(table, []))
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                break
            _backoff(round_, sleep)
        else:
            raise Unavailable(f"BatchGetItem on {table} left keys unprocessed after {MAX_ROUNDS} rounds")
    return found


def batch_put(
    client: "DynamoDBClient",
    table: str,
    items: Sequence[dict[str, Any]],
    *,
    keys: KeyAttributes = KeyAttributes(),
    sleep: Sleep = time.sleep,
    checked: bool = False,
) -> dict[int, Refused]:
    """Puts every item it can; returns {index: why} for the items refused for good, by `limits` before
    sending or by DynamoDB. Not atomic across chunks, so callers order their writes to be safe to repeat.
    `checked`: the caller has held every item to `item_problem` already (ingest does, before projecting)."""
    refused: dict[int, Refused] = {}
    writable: list[tuple[int, dict[str, Any]]] = []
    for index, item in enumerate(items):
        problem = None if checked else item_problem(item, partition_keys=keys.partition, sort_keys=keys.sort)
        if problem:
            refused[index] = Refused(*problem)
        else:
            writable.append((index, item))
    for chunk in _chunks(writable, MAX_BATCH_WRITE_ITEMS):
        try:
            _write_requests(client, table, [{"PutRequest": {"Item": item}} for _, item in chunk], sleep)
        except Refused:
            # One refused item fails its whole request: write the chunk one by one to find it.
            for index, item in chunk:
                try:
                    client.put_item(TableName=table, Item=item)
                except (ClientError, BotoCoreError) as exc:
                    error = classify(exc, f"PutItem on {table}")
                    if isinstance(error, Unavailable):
                        raise error from exc
                    refused[index] = error
    return refused


def batch_delete(
    client: "DynamoDBClient", table: str, keys: Sequence[dict[str, Any]], *, sleep: Sleep = time.sleep
) -> None:
    for chunk in _chunks(keys, MAX_BATCH_WRITE_ITEMS):
        _write_requests(client, table, [{"DeleteRequest": {"Key": key}} for key in chunk], sleep)


def _write_requests(client: "DynamoDBClient", table: str, requests: list[dict[str, Any]], sleep: Sleep) -> None:
    pending: dict[str, Any] = {table: requests}
    for round_ in range(MAX_ROUNDS):
        try:
            response = client.batch_write_item(RequestItems=pending)
        except (ClientError, BotoCoreError) as exc:
            raise classify(exc, f"BatchWriteItem on {table}") from exc
        pending = response.get("UnprocessedItems") or {}
        if not pending:
            return
        _backoff(round_, sleep)
    raise Unavailable(f"BatchWriteItem on {table} left items unprocessed after {MAX_ROUNDS} rounds")


def query_partition(client: "DynamoDBClient", table: str, pk: str, **extra: Any) -> list[dict[str, Any]]:
    """Every item of one partition, consistently read; `extra` adds a filter and its values."""
    values = {":pk": {"S": pk}, **extra.pop("ExpressionAttributeValues", {})}
    try:
        pages = client.get_paginator("query").paginate(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=values,
            ConsistentRead=True,
            **extra,
        )
        return [from_item(item) for page in pages for item in page.get("Items", [])]
    except (ClientError, BotoCoreError) as exc:
        raise classify(exc, f"Query on {table}") from exc
