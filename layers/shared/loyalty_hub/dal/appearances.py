"""Where each customer appears in the raw archive, and the erasure log: both in EntitiesTable, each in
partitions of its own beside the entities ("~" is never in a Storyous domain name).

- `<tenant>#~seen#<customer>`, one item per archived delivery that names the customer (a Loyalty record
  of it, or a bill of it), written by ingest with the delivery's entities: erasure finds the deliveries
  to rewrite without listing the archive, and `admin trace` lists what touched the customer. An item
  expires with its archive object (RAW_RETENTION_DAYS).
- `<tenant>#~copies#<sha256>`, one item per extra archive key of a body applied before (a duplicate
  delivery is skipped after one read, so its appearances are those of its first copy).
- `<tenant>#~erasures`, one item per erasure: who asked, when, what was done where. Ids and counts only;
  kept without expiry, for the accountability a processor owes (D47).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from loyalty_hub.dal.batch import KeyAttributes, batch_put, classify, query_partition
from loyalty_hub.dal.codec import from_item, to_item
from loyalty_hub.errors import Unavailable
from loyalty_hub.limits import item_problem
from loyalty_hub.models.datasync import DeliveryPointer

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


KEYS = KeyAttributes(partition=("pk",), sort=("sk",))


@dataclass(frozen=True)
class Appearance:
    archive_key: str
    domain: str
    place_id: str
    received_at: str
    source: str  # "webhook" or the envelope's own `source` (the scheduled pull's)


def _seen_pk(tenant_id: str, customer_id: str) -> str:
    return f"{tenant_id}#~seen#{customer_id}"


class Appearances:
    def __init__(self, client: "DynamoDBClient", table: str, retention_days: int = 400) -> None:
        self._client = client
        self._table = table
        self._retention = timedelta(days=retention_days)

    def _expires(self, pointer: DeliveryPointer) -> int:
        """With the archive object it points at (epoch seconds, the table's TTL)."""
        return int((pointer.received_at + self._retention).timestamp())

    def record(self, pointer: DeliveryPointer, customer_ids: Iterable[str], source: str) -> None:
        """Notes that this delivery names these customers: ceil(customers / 25) write requests."""
        items = self.items(pointer, customer_ids, source)
        # Items differ only in their key, so the one with the longest key is the largest: if it passes, all do.
        longest = max(items, key=lambda item: len(item["pk"]["S"].encode()), default=None)
        if longest is not None and item_problem(longest, partition_keys=KEYS.partition, sort_keys=KEYS.sort):
            raise Unavailable("an appearance item would be refused")  # keys are bounded ids: a bug
        if refused := batch_put(self._client, self._table, items, keys=KEYS, checked=True):
            raise Unavailable(f"appearances refused {len(refused)} item(s)")

    def record_copy(self, pointer: DeliveryPointer) -> None:
        """A body applied before, archived again under another key (another day): one PutItem, so that
        erasure rewrites every copy of a delivery it finds."""
        item = to_item(
            {
                "pk": f"{pointer.tenant_id}#~copies#{pointer.sha256}",
                "sk": pointer.key,
                "expires_at": self._expires(pointer),
            }
        )
        try:
            self._client.put_item(TableName=self._table, Item=item)
        except (ClientError, BotoCoreError) as exc:
            raise classify(exc, f"PutItem on {self._table}") from exc

    def copies(self, tenant_id: str, sha256: str) -> list[str]:
        """Other archive keys holding the same body as the delivery with this hash."""
        return sorted(str(i["sk"]) for i in self._query(f"{tenant_id}#~copies#{sha256}"))

    def items(self, pointer: DeliveryPointer, customer_ids: Iterable[str], source: str) -> list[dict[str, Any]]:
        shared = to_item(  # the same for every customer of the delivery: encoded once
            {
                "sk": pointer.key,
                "domain": pointer.domain,
                "place_id": pointer.place_id,
                "received_at": pointer.received_at.isoformat(),
                "source": source,
                "expires_at": self._expires(pointer),
            }
        )
        return [{"pk": {"S": _seen_pk(pointer.tenant_id, cid)}, **shared} for cid in sorted(set(customer_ids))]

    def of(self, tenant_id: str, customer_id: str) -> list[Appearance]:
        """Every delivery that named the customer, oldest first."""
        found = [
            Appearance(str(i["sk"]), str(i["domain"]), str(i["place_id"]), str(i["received_at"]), str(i["source"]))
            for i in self._query(_seen_pk(tenant_id, customer_id))
        ]
        return sorted(found, key=lambda a: (a.received_at, a.archive_key))

    def _query(self, pk: str) -> list[dict[str, Any]]:
        return query_partition(self._client, self._table, pk)


class ErasureLog:
    def __init__(self, client: "DynamoDBClient", table: str) -> None:
        self._client = client
        self._table = table

    @staticmethod
    def _key(tenant_id: str, request_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"{tenant_id}#~erasures"}, "sk": {"S": request_id}}

    def write(self, tenant_id: str, request_id: str, entry: Mapping[str, Any]) -> None:
        item = {**to_item(dict(entry)), **self._key(tenant_id, request_id)}
        try:
            self._client.put_item(TableName=self._table, Item=item)
        except (ClientError, BotoCoreError) as exc:
            raise classify(exc, f"PutItem on {self._table}") from exc

    def get(self, tenant_id: str, request_id: str) -> dict[str, Any] | None:
        try:
            response = self._client.get_item(
                TableName=self._table, Key=self._key(tenant_id, request_id), ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise classify(exc, f"GetItem on {self._table}") from exc
        if "Item" not in response:
            return None
        entry = from_item(response["Item"])
        return {k: v for k, v in entry.items() if k not in ("pk", "sk")}

    def of_customer(self, tenant_id: str, customer_id: str) -> list[dict[str, Any]]:
        """The tenant's erasures of this customer, oldest first (the log is read by operators only)."""
        entries = query_partition(
            self._client,
            self._table,
            f"{tenant_id}#~erasures",
            FilterExpression="customer_id = :c",
            ExpressionAttributeValues={":c": {"S": customer_id}},
        )
        return sorted(entries, key=lambda e: str(e.get("requested_at", "")))
