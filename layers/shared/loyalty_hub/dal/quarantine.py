"""QuarantineTable: one item per (tenant, quarantine id) for each record ingest could not store."""

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from loyalty_hub.dal.batch import batch_delete, batch_put, classify
from loyalty_hub.dal.codec import from_item, to_item
from loyalty_hub.errors import Unavailable
from loyalty_hub.models.quarantine import QuarantineRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class QuarantineStore:
    def __init__(self, client: "DynamoDBClient", table: str) -> None:
        self._client = client
        self._table = table

    def put_many(self, records: Sequence[QuarantineRecord]) -> None:
        refused = batch_put(self._client, self._table, [to_item(r.to_item()) for r in records])
        if refused:  # a quarantine record holds ids and reasons only, so this is a bug, not bad data
            raise Unavailable(f"quarantine refused {len(refused)} record(s): {next(iter(refused.values()))}")

    def list(self, tenant_id: str) -> list[QuarantineRecord]:
        items: list[dict[str, Any]] = []
        try:
            for page in self._client.get_paginator("query").paginate(
                TableName=self._table,
                KeyConditionExpression="tenant_id = :t",
                ExpressionAttributeValues={":t": {"S": tenant_id}},
            ):
                items += page.get("Items", [])
        except (ClientError, BotoCoreError) as exc:
            raise classify(exc, "quarantine query") from exc
        records = [QuarantineRecord.from_item(from_item(item)) for item in items]
        return sorted(records, key=lambda r: (r.quarantined_at, r.qid))

    def get(self, tenant_id: str, qid: str) -> QuarantineRecord | None:
        try:
            response = self._client.get_item(
                TableName=self._table, Key={"tenant_id": {"S": tenant_id}, "qid": {"S": qid}}, ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise classify(exc, "quarantine read") from exc
        return QuarantineRecord.from_item(from_item(response["Item"])) if "Item" in response else None

    def count(self, tenant_id: str) -> int:
        total = 0
        try:
            for page in self._client.get_paginator("query").paginate(
                TableName=self._table,
                KeyConditionExpression="tenant_id = :t",
                ExpressionAttributeValues={":t": {"S": tenant_id}},
                Select="COUNT",
            ):
                total += page.get("Count", 0)
        except (ClientError, BotoCoreError) as exc:
            raise classify(exc, "quarantine count") from exc
        return total

    def delete(self, tenant_id: str, qids: Iterable[str]) -> None:
        keys = [{"tenant_id": {"S": tenant_id}, "qid": {"S": qid}} for qid in sorted(set(qids))]
        batch_delete(self._client, self._table, keys)
