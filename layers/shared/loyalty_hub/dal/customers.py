"""Customers in CustomersTable: one item per (tenant, customer) holding the projection and its summary (D50).

GSI `ByUpdatedKeys` orders a tenant's customers by (updated_at, id) for DailyStory's "changed since" read;
it holds keys and category ids only, so reading a whole tenant's order costs ~100 bytes a customer (D44).
"""

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from loyalty_hub.dal.batch import KeyAttributes, batch_get, batch_put
from loyalty_hub.dal.codec import from_item, to_item
from loyalty_hub.errors import Refused, Unavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

BY_UPDATED_INDEX = "ByUpdatedKeys"
KEYS = KeyAttributes(partition=("pk", "gsi1pk"), sort=("gsi1sk",))  # the table's key and the index's


def customer_pk(tenant_id: str, customer_id: str) -> str:
    return f"{tenant_id}#{customer_id}"


def item_keys(record: dict[str, Any]) -> dict[str, Any]:
    """A customer record's table key and ByUpdated index keys, as attribute values, derived from its fields.
    An erased customer gets no index keys: it leaves DailyStory's list and every index read (sparse index)."""
    tenant_id, customer_id = record["tenant_id"], record["customer_id"]
    keys = {"pk": {"S": customer_pk(tenant_id, customer_id)}}
    if not record.get("erased"):
        keys["gsi1pk"] = {"S": tenant_id}
        keys["gsi1sk"] = {"S": f"{record['updated_at']}#{customer_id}"}
    return keys


class CustomerStore:
    def __init__(self, client: "DynamoDBClient", table: str) -> None:
        self._client = client
        self._table = table

    def get_many(self, tenant_id: str, customer_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        keys = [{"pk": {"S": customer_pk(tenant_id, cid)}} for cid in sorted(set(customer_ids))]
        if not keys:
            return {}
        items = (from_item(raw) for raw in batch_get(self._client, self._table, keys))
        return {item["customer_id"]: item for item in items}

    def get(self, tenant_id: str, customer_id: str) -> dict[str, Any] | None:
        try:
            response = self._client.get_item(
                TableName=self._table, Key={"pk": {"S": customer_pk(tenant_id, customer_id)}}, ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable("customer store unavailable") from exc
        return from_item(response["Item"]) if "Item" in response else None

    def changed_since(self, tenant_id: str, since: str) -> list[str]:
        """Ids of the tenant's customers with updated_at >= `since`, in (updated_at, id) order."""
        return self._index_ids(
            KeyConditionExpression="gsi1pk = :t AND gsi1sk >= :since",
            ExpressionAttributeValues={":t": {"S": tenant_id}, ":since": {"S": since}},
        )

    def records(self, tenant_id: str, customer_ids: Sequence[str], attributes: Sequence[str]) -> list[dict[str, Any]]:
        """The customers' `attributes`, in the order of `customer_ids`; those gone since are left out.
        Eventually consistent: half the read cost, and a customer changed a moment ago is served next sync."""
        names = {f"#a{i}": name for i, name in enumerate(attributes)}
        keys = [{"pk": {"S": customer_pk(tenant_id, cid)}} for cid in customer_ids]
        raw = batch_get(self._client, self._table, keys, projection=",".join(names), names=names, consistent=False)
        found = {item["customer_id"]: item for item in map(from_item, raw)}
        return [found[cid] for cid in customer_ids if cid in found]

    def ids_updated_between(self, tenant_id: str, start: str, end: str) -> list[str]:
        """The tenant's customers whose updated_at is within [start, end] (timestamps as stored)."""
        return self._index_ids(
            KeyConditionExpression="gsi1pk = :t AND gsi1sk BETWEEN :a AND :b",
            ExpressionAttributeValues={":t": {"S": tenant_id}, ":a": {"S": start}, ":b": {"S": f"{end}~"}},
        )

    def put_many(self, records: Sequence[dict[str, Any]]) -> dict[str, Refused]:
        """Writes customer items; returns {customer id: why} for those refused for good."""
        items = [to_item(record) | item_keys(record) for record in records]
        refused = batch_put(self._client, self._table, items, keys=KEYS)
        return {str(records[index]["customer_id"]): error for index, error in refused.items()}

    def pages(self, tenant_id: str, projection: str, names: dict[str, str], page_size: int) -> Iterator[list[Any]]:
        """Every customer of the tenant, `page_size` at a time: ids from the index (which does not hold
        every attribute), then the items' `projection` in one BatchGetItem per page."""
        pages = self._client.get_paginator("query").paginate(
            TableName=self._table,
            IndexName=BY_UPDATED_INDEX,
            KeyConditionExpression="gsi1pk = :t",
            ExpressionAttributeValues={":t": {"S": tenant_id}},
            ProjectionExpression="pk",
            PaginationConfig={"PageSize": page_size},
        )
        for page in pages:
            keys = [{"pk": i["pk"]} for i in page.get("Items", [])]
            raw = batch_get(self._client, self._table, keys, projection=projection, names=names) if keys else []
            yield [from_item(item) for item in raw]

    def ids_with_categories(self, tenant_id: str, category_ids: Iterable[str]) -> list[str]:
        """Customers whose counted bills carry any of `category_ids` (a read of the tenant's index)."""
        wanted = sorted(set(category_ids))
        if not wanted:
            return []
        names = {f":c{i}": {"S": c} for i, c in enumerate(wanted)}
        condition = " OR ".join(f"contains(category_ids, {name})" for name in names)
        return self._index_ids(
            KeyConditionExpression="gsi1pk = :t",
            FilterExpression=condition,
            ExpressionAttributeValues={":t": {"S": tenant_id}, **names},
        )

    def _index_ids(self, **query: Any) -> list[str]:
        """Customer ids from a query of the ByUpdatedKeys index, every page (read from the table key)."""
        paginator = self._client.get_paginator("query")
        try:
            return [
                item["pk"]["S"].split("#", 1)[1]
                for page in paginator.paginate(
                    TableName=self._table, IndexName=BY_UPDATED_INDEX, ProjectionExpression="pk", **query
                )
                for item in page.get("Items", [])
            ]
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable("customer index query failed") from exc
