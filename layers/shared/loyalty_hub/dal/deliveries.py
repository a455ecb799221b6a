"""Delivery marks in EntitiesTable: which archived bodies ingest has applied, so that a delivery Storyous
sends again costs one read instead of a full pass (D45). Kept MARK_DAYS (the table's TTL), under the
tenant's own partition, apart from every domain's entities."""

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from loyalty_hub.dal.batch import classify
from loyalty_hub.models.datasync import DeliveryPointer

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

MARK_DAYS = 35  # longer than any redelivery or retry window (the ingest DLQ keeps 14 days)


def _key(pointer: DeliveryPointer) -> dict[str, Any]:
    # "~": never in a Storyous domain name, so no entity partition is ever "<tenant>#~applied"
    return {
        "pk": {"S": f"{pointer.tenant_id}#~applied"},
        "sk": {"S": f"{pointer.place_id}#{pointer.domain}#{pointer.sha256}"},
    }


class DeliveryMarks:
    def __init__(self, client: "DynamoDBClient", table: str) -> None:
        self._client = client
        self._table = table

    def applied(self, pointer: DeliveryPointer) -> bool:
        """Whether this body, for this tenant, place and domain, was applied already."""
        return self.applied_as(pointer) is not None

    def applied_as(self, pointer: DeliveryPointer) -> str | None:
        """The archive key this body was first applied from ("" for marks older than the key), or None."""
        try:
            response = self._client.get_item(
                TableName=self._table, Key=_key(pointer), ProjectionExpression="archive_key", ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise classify(exc, f"GetItem on {self._table}") from exc
        if "Item" not in response:
            return None
        return str(response["Item"].get("archive_key", {}).get("S", ""))

    def mark(self, pointer: DeliveryPointer, now: datetime) -> None:
        applied = int(now.timestamp())
        expires = int((now + timedelta(days=MARK_DAYS)).timestamp())
        # Epoch seconds, like the TTL attribute beside it: one time format in the item.
        item = {
            **_key(pointer),
            "archive_key": {"S": pointer.key},
            "applied_at": {"N": str(applied)},
            "expires_at": {"N": str(expires)},
        }
        try:
            self._client.put_item(TableName=self._table, Item=item)
        except (ClientError, BotoCoreError) as exc:
            raise classify(exc, f"PutItem on {self._table}") from exc
