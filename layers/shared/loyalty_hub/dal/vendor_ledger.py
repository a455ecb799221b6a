"""VendorLedgerTable: what was sent to a vendor, per record, so a record the vendor cannot take twice
is sent once, however often its message comes back. One item per (vendor, tenant, record)."""

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from loyalty_hub.dal.batch import KeyAttributes, batch_get, batch_put
from loyalty_hub.dal.codec import from_item, to_item
from loyalty_hub.errors import Unavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

KEYS = KeyAttributes(partition=("pk",), sort=("sk",))


class VendorLedger:
    def __init__(self, client: "DynamoDBClient", table: str, vendor: str) -> None:
        self._client = client
        self._table = table
        self._vendor = vendor

    def _pk(self, tenant_id: str) -> str:
        return f"{self._vendor}#{tenant_id}"

    def entries(self, tenant_id: str, record_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """record id -> what was noted when it was sent, for the records sent before."""
        pk = self._pk(tenant_id)
        keys = [{"pk": {"S": pk}, "sk": {"S": rid}} for rid in sorted(set(record_ids))]
        if not keys:
            return {}
        return {str(item["sk"]): item for item in map(from_item, batch_get(self._client, self._table, keys))}

    def note(self, tenant_id: str, entries: Mapping[str, Mapping[str, Any]]) -> None:
        pk = self._pk(tenant_id)
        items = [to_item({**entry, "pk": pk, "sk": rid}) for rid, entry in sorted(entries.items())]
        refused = batch_put(self._client, self._table, items, keys=KEYS)
        if refused:  # keys are bounded ids (models.ids), so this is a bug, not bad data
            raise Unavailable(f"vendor ledger refused {len(refused)} entries")


class LastSends:
    """Per (vendor, tenant, customer): the last time a vendor worker tried the customer, and how it went,
    for `admin trace`. Written once per worker batch; one item per customer, the newest wins."""

    def __init__(self, client: "DynamoDBClient", table: str) -> None:
        self._client = client
        self._table = table

    @staticmethod
    def _pk(vendor: str, tenant_id: str) -> str:
        return f"{vendor}#{tenant_id}#~sent"  # "~" is never in a tenant id (models.ids), so apart from VendorLedger's

    def note(self, vendor: str, sends: Mapping[tuple[str, str], Mapping[str, Any]]) -> None:
        """`sends`: (tenant id, customer id) -> {at, status, attempt, reason?, http_status?}."""
        items = [
            to_item({**entry, "pk": self._pk(vendor, tenant_id), "sk": customer_id})
            for (tenant_id, customer_id), entry in sorted(sends.items())
        ]
        if refused := batch_put(self._client, self._table, items, keys=KEYS):
            raise Unavailable(f"last-send records refused {len(refused)} item(s)")

    def get(self, vendor: str, tenant_id: str, customer_id: str) -> dict[str, Any] | None:
        key = {"pk": {"S": self._pk(vendor, tenant_id)}, "sk": {"S": customer_id}}
        found = batch_get(self._client, self._table, [key])
        return {k: v for k, v in from_item(found[0]).items() if k not in ("pk", "sk")} if found else None
