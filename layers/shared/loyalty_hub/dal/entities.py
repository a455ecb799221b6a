"""Storyous entities of every domain, one item per (tenant, domain, id) in EntitiesTable."""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from loyalty_hub.dal.batch import KeyAttributes, batch_get, batch_put, classify
from loyalty_hub.errors import Refused
from loyalty_hub.limits import strings_item_problem

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@dataclass(frozen=True)
class StoredVersion:
    version: str
    customer_id: str | None


KEYS = KeyAttributes(partition=("pk",), sort=("sk",))
_NAMES: Final = sum(map(len, ("pk", "sk", "version", "body", "place_id", "delivery_key", "received_at")))


def _pk(tenant_id: str, domain: str) -> str:
    return f"{tenant_id}#{domain}"


class DeliveryItems:
    """The entity items of one delivery, each checked against DynamoDB's limits from the characters counted
    as it is built (tests/property/test_limits.py holds the check to item_problem); what every item of the
    delivery shares is encoded and counted once."""

    def __init__(self, tenant_id: str, domain: str, *, place_id: str, delivery_key: str, received_at: str) -> None:
        pk = _pk(tenant_id, domain)
        self._shared = {
            "pk": {"S": pk},
            "place_id": {"S": place_id},
            "delivery_key": {"S": delivery_key},
            "received_at": {"S": received_at},
        }
        self._characters = _NAMES + len(pk) + len(place_id) + len(delivery_key) + len(received_at)

    def checked(
        self, entity_id: str, version: str, text: str, customer_id: str | None = None
    ) -> tuple[dict[str, Any], tuple[str, str] | None]:
        """The item `EntityStore.put_items` writes for an entity (`text`: its JSON as delivered), and why
        DynamoDB would refuse it (None: it would not). A bill's item names its customer."""
        item: dict[str, Any] = {**self._shared, "sk": {"S": entity_id}, "version": {"S": version}, "body": {"S": text}}
        characters = self._characters + len(entity_id) + len(version) + len(text)
        if customer_id:
            item["customer_id"] = {"S": customer_id}
            characters += len("customer_id") + len(customer_id)
        return item, strings_item_problem(item, characters, partition_keys=KEYS.partition, sort_keys=KEYS.sort)


class EntityStore:
    def __init__(self, client: "DynamoDBClient", table: str) -> None:
        self._client = client
        self._table = table

    def _keys(self, tenant_id: str, domain: str, ids: Iterable[str]) -> list[dict[str, Any]]:
        pk = _pk(tenant_id, domain)
        return [{"pk": {"S": pk}, "sk": {"S": entity_id}} for entity_id in sorted(set(ids))]

    def versions(self, tenant_id: str, domain: str, ids: Iterable[str]) -> dict[str, StoredVersion]:
        items = batch_get(
            self._client,
            self._table,
            self._keys(tenant_id, domain, ids),
            projection="sk, #v, customer_id",
            names={"#v": "version"},
        )
        return {
            item["sk"]["S"]: StoredVersion(item["version"]["S"], item.get("customer_id", {}).get("S")) for item in items
        }

    def bodies(self, tenant_id: str, domain: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        keys = self._keys(tenant_id, domain, ids)
        if not keys:
            return {}
        items = batch_get(self._client, self._table, keys, projection="sk, body")
        return {item["sk"]["S"]: orjson.loads(item["body"]["S"]) for item in items}

    def put_items(self, items: list[dict[str, Any]]) -> dict[str, Refused]:
        """Writes entity items that passed their check; returns {entity id: why} for those DynamoDB refused."""
        refused = batch_put(self._client, self._table, items, keys=KEYS, checked=True)
        return {items[index]["sk"]["S"]: error for index, error in refused.items()}

    def replace_body(self, tenant_id: str, domain: str, entity_id: str, body: dict[str, Any]) -> bool:
        """Stores `body` in place of the entity's, keeping its version and where it came from; False when
        there is no such entity."""
        key = self._keys(tenant_id, domain, [entity_id])[0]
        try:
            found = self._client.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
            if found is None:
                return False
            self._client.put_item(TableName=self._table, Item={**found, "body": {"S": orjson.dumps(body).decode()}})
        except (ClientError, BotoCoreError) as exc:
            raise classify(exc, f"entity rewrite on {self._table}") from exc
        return True
