"""A token bucket kept in DynamoDB, shared by every concurrent invocation that calls one vendor shop.

The vendor's leaky bucket counts every caller; each Lambda's own pacing would not. One item per bucket
holds the tokens left, when they were counted, and a revision; taking a token is a write conditional on
the revision it read. (On the timestamp alone two callers could spend one token: a caller whose clock
is behind the stored count writes the same timestamp back.)
"""

import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from loyalty_hub.errors import Unavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

CONTENTION_ROUNDS = 20


class TokenBucket:
    def __init__(
        self,
        client: "DynamoDBClient",
        table: str,
        key: str,
        *,
        capacity: float,
        refill_per_second: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._table = table
        self._key = key
        self._capacity = capacity
        self._rate = refill_per_second
        self._clock = clock

    def take(self) -> float:
        """Takes one token and returns 0, or returns how many seconds until one is there (takes nothing)."""
        for _ in range(CONTENTION_ROUNDS):
            now = self._clock()
            item = self._client.get_item(TableName=self._table, Key={"pk": {"S": self._key}}, ConsistentRead=True)
            stored = item.get("Item")
            if stored is None:
                tokens = self._capacity
            else:
                # Never count back in time: a slow caller's `now` can be older than the last count.
                now = max(now, float(stored["at"]["N"]))
                tokens = min(
                    self._capacity, float(stored["tokens"]["N"]) + (now - float(stored["at"]["N"])) * self._rate
                )
            if tokens < 1:
                return (1 - tokens) / self._rate
            revision = int(stored["rev"]["N"]) if stored is not None and "rev" in stored else 0
            item_after = {
                "pk": {"S": self._key},
                "tokens": {"N": _n(tokens - 1)},
                "at": {"N": _n(now)},
                "rev": {"N": str(revision + 1)},
            }
            try:
                self._client.put_item(TableName=self._table, Item=item_after, **_unchanged_since(stored))
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    continue  # another invocation took a token meanwhile: count again
                raise Unavailable("rate limit table unavailable") from exc
            return 0.0
        return 1 / self._rate  # heavy contention: back off for one token's time


def _unchanged_since(stored: dict[str, Any] | None) -> dict[str, Any]:
    """The write's condition: the item is as this caller read it."""
    if stored is None:
        return {"ConditionExpression": "attribute_not_exists(pk)"}
    if "rev" in stored:
        return {
            "ConditionExpression": "#rev = :rev",
            "ExpressionAttributeNames": {"#rev": "rev"},
            "ExpressionAttributeValues": {":rev": stored["rev"]},
        }
    # An item written before revisions: its timestamp, and still no revision.
    return {
        "ConditionExpression": "#at = :at AND attribute_not_exists(#rev)",
        "ExpressionAttributeNames": {"#at": "at", "#rev": "rev"},
        "ExpressionAttributeValues": {":at": stored["at"]},
    }


def _n(value: float) -> str:
    return str(Decimal(repr(value)))  # the float's exact shortest form: rounding up would invent tokens
