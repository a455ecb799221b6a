"""BatchGetItem / BatchWriteItem with the unprocessed remainder retried (exponential backoff, full jitter).

botocore retries whole-request throttles; these loops handle what a successful response leaves undone.
"""

import random
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from loyalty_hub.errors import Unavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

GET_LIMIT = 100
WRITE_LIMIT = 25
MAX_ROUNDS = 8
BASE_DELAY = 0.05
MAX_DELAY = 2.0

Sleep = Callable[[float], None]


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
    sleep: Sleep = time.sleep,
) -> list[dict[str, Any]]:
    """All items found for `keys` (raw attribute values), read strongly consistently."""
    found: list[dict[str, Any]] = []
    for chunk in _chunks(keys, GET_LIMIT):
        request: dict[str, Any] = {"Keys": list(chunk), "ConsistentRead": True}
        if projection:
            request["ProjectionExpression"] = projection
        if names:
            request["ExpressionAttributeNames"] = names
        pending: dict[str, Any] = {table: request}
        for round_ in range(MAX_ROUNDS):
            try:
                response = client.batch_get_item(RequestItems=pending)
            except (ClientError, BotoCoreError) as exc:
                raise Unavailable(f"BatchGetItem on {table} failed") from exc
            found.extend(response.get("Responses", {}).get(table, []))
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                break
            _backoff(round_, sleep)
        else:
            raise Unavailable(f"BatchGetItem on {table} left keys unprocessed after {MAX_ROUNDS} rounds")
    return found


def batch_put(
    client: "DynamoDBClient", table: str, items: Sequence[dict[str, Any]], *, sleep: Sleep = time.sleep
) -> None:
    """Put every item; not atomic across chunks, so callers order their writes to be safe to repeat."""
    for chunk in _chunks(items, WRITE_LIMIT):
        pending: dict[str, Any] = {table: [{"PutRequest": {"Item": item}} for item in chunk]}
        for round_ in range(MAX_ROUNDS):
            try:
                response = client.batch_write_item(RequestItems=pending)
            except (ClientError, BotoCoreError) as exc:
                raise Unavailable(f"BatchWriteItem on {table} failed") from exc
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                break
            _backoff(round_, sleep)
        else:
            raise Unavailable(f"BatchWriteItem on {table} left items unprocessed after {MAX_ROUNDS} rounds")
