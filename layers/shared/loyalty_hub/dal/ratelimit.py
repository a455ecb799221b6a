"""A token bucket kept in DynamoDB, shared by every concurrent invocation that calls one vendor shop.

The vendor's leaky bucket counts every caller; each Lambda's own pacing would not. One item per bucket
holds the tokens left and when they were counted; taking a token is a conditional write on that
timestamp, so two invocations never spend the same token.
"""

import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

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
                tokens, counted_at = self._capacity, None
            else:
                # Never count back in time: a slow caller's `now` can be older than the last count.
                now = max(now, float(stored["at"]["N"]))
                tokens = min(
                    self._capacity, float(stored["tokens"]["N"]) + (now - float(stored["at"]["N"])) * self._rate
                )
                counted_at = stored["at"]["N"]
            if tokens < 1:
                return (1 - tokens) / self._rate
            item_after = {"pk": {"S": self._key}, "tokens": {"N": _n(tokens - 1)}, "at": {"N": _n(now)}}
            try:
                if counted_at is None:
                    self._client.put_item(
                        TableName=self._table, Item=item_after, ConditionExpression="attribute_not_exists(pk)"
                    )
                else:
                    self._client.put_item(
                        TableName=self._table,
                        Item=item_after,
                        ConditionExpression="#at = :at",
                        ExpressionAttributeNames={"#at": "at"},
                        ExpressionAttributeValues={":at": {"N": counted_at}},
                    )
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    continue  # another invocation took a token meanwhile: count again
                raise Unavailable("rate limit table unavailable") from exc
            return 0.0
        return 1 / self._rate  # heavy contention: back off for one token's time


def _n(value: float) -> str:
    return str(Decimal(repr(value)))  # the float's exact shortest form: rounding up would invent tokens
