"""A stream batch Lambda gave up on, as its on-failure destination describes it (AWS Lambda developer
guide, event source mapping destinations, the DynamoDB example: `DDBStreamBatchInfo`)."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson


@dataclass(frozen=True)
class FailedBatch:
    stream_arn: str
    shard_id: str
    start: int
    end: int
    first_arrival: datetime
    last_arrival: datetime

    @classmethod
    def parse(cls, body: str) -> "FailedBatch | None":
        """The batch a failure record names, or None for a message that is not one."""
        try:
            info: Mapping[str, Any] = orjson.loads(body)["DDBStreamBatchInfo"]
            return cls(
                stream_arn=str(info["streamArn"]),
                shard_id=str(info["shardId"]),
                start=int(info["startSequenceNumber"]),
                end=int(info["endSequenceNumber"]),
                first_arrival=datetime.fromisoformat(str(info["approximateArrivalOfFirstRecord"])),
                last_arrival=datetime.fromisoformat(str(info["approximateArrivalOfLastRecord"])),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
