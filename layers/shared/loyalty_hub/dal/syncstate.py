"""Where each scheduled sync left off (SyncStateTable): one item per (job, tenant, place).

A cursor is saved with a conditional write on its revision, so two runs that overlap (EventBridge
Scheduler delivers at least once) cannot both advance it: the second one stops for that place.
"""

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from loyalty_hub.errors import Unavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class CursorConflict(Exception):
    """Another run saved this cursor since it was read."""


@dataclass(frozen=True)
class PullCursor:
    tenant_id: str
    place_id: str
    since: datetime  # `modifiedSince` of the run in progress, or of the next one
    run_started_at: datetime | None = None  # set while a run follows its `nextPage` chain
    next_page: str | None = None
    completed_at: datetime | None = None  # when a run last reached the last page
    revision: int = 0  # 0: never saved


class SyncStateStore:
    def __init__(self, client: "DynamoDBClient", table: str) -> None:
        self._client = client
        self._table = table

    def pull_cursor(self, tenant_id: str, place_id: str) -> PullCursor | None:
        try:
            response = self._client.get_item(
                TableName=self._table, Key={"pk": {"S": _pull_pk(tenant_id, place_id)}}, ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable("sync state table unavailable") from exc
        item = response.get("Item")
        if item is None:
            return None
        return PullCursor(
            tenant_id=tenant_id,
            place_id=place_id,
            since=datetime.fromisoformat(item["since"]["S"]),
            run_started_at=_time(item, "run_started_at"),
            next_page=item["next_page"]["S"] if "next_page" in item else None,
            completed_at=_time(item, "completed_at"),
            revision=int(item["revision"]["N"]),
        )

    def save_pull_cursor(self, cursor: PullCursor) -> PullCursor:
        """Stores `cursor` if nobody saved this place's cursor since it was read; returns the saved one."""
        saved = replace(cursor, revision=cursor.revision + 1)
        item: dict[str, Any] = {
            "pk": {"S": _pull_pk(cursor.tenant_id, cursor.place_id)},
            "tenant_id": {"S": cursor.tenant_id},
            "place_id": {"S": cursor.place_id},
            "since": {"S": cursor.since.isoformat()},
            "revision": {"N": str(saved.revision)},
        }
        if cursor.run_started_at is not None:
            item["run_started_at"] = {"S": cursor.run_started_at.isoformat()}
        if cursor.next_page is not None:
            item["next_page"] = {"S": cursor.next_page}
        if cursor.completed_at is not None:
            item["completed_at"] = {"S": cursor.completed_at.isoformat()}
        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(pk)"}
            if cursor.revision == 0
            else {
                "ConditionExpression": "revision = :r",
                "ExpressionAttributeValues": {":r": {"N": str(cursor.revision)}},
            }
        )
        try:
            self._client.put_item(TableName=self._table, Item=item, **condition)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                where = f"{cursor.tenant_id}/{cursor.place_id}"
                raise CursorConflict(f"the pull cursor of {where} moved meanwhile") from exc
            raise Unavailable("sync state table unavailable") from exc
        except BotoCoreError as exc:
            raise Unavailable("sync state table unavailable") from exc
        return saved


def _pull_pk(tenant_id: str, place_id: str) -> str:
    return f"pull#{tenant_id}#{place_id}"


def _time(item: dict[str, Any], name: str) -> datetime | None:
    return datetime.fromisoformat(item[name]["S"]) if name in item else None
