"""Capacity units of the DynamoDB calls a client makes, computed as the developer guide prices them.

moto answers ConsumedCapacity with constants, so the units are computed here from item sizes (the same
arithmetic as loyalty_hub.limits): a write costs ceil(size / 1 KB) WCU per item and per index entry it
changes; a read ceil(size / 4 KB) RRU of the whole item (a projection does not lower it), halved when
eventually consistent. Item sizes are learnt from the writes seen (unknown items count as 1 byte); an
update that moves an index key costs one more index write, not counted here, so writes are a lower bound.
"""

import math
from collections.abc import Mapping
from typing import Any

from loyalty_hub.limits import item_size
from loyalty_hub_dev.local.template import resources

Key = tuple[str, str]


def _indexes() -> dict[str, list[tuple[str, list[str] | None]]]:
    """Per table resource's TableName placeholder: each GSI's key attributes and projected attributes."""
    found: dict[str, list[tuple[str, list[str] | None]]] = {}
    for logical_id, table in resources("AWS::DynamoDB::Table").items():
        for index in table["Properties"].get("GlobalSecondaryIndexes", []):
            keys = [k["AttributeName"] for k in index["KeySchema"]]
            projection = index["Projection"]
            included = None if projection["ProjectionType"] == "ALL" else keys + projection.get("NonKeyAttributes", [])
            found.setdefault(logical_id, []).append((index["IndexName"], included))
    return found


class Capacity:
    def __init__(self, tables: Mapping[str, str]) -> None:
        """`tables`: table name -> the template's logical id (for its indexes)."""
        self.wcu = 0
        self.rru = 0.0
        self._sizes: dict[Key, int] = {}
        self._table_ids = dict(tables)
        self._indexes = _indexes()
        self._asked: dict[str, Any] = {}  # the last call's params (calls are sequential here)

    def register(self, client: Any) -> None:
        client.meta.events.register("before-parameter-build.dynamodb", self._before)  # the call's own params
        client.meta.events.register("after-call.dynamodb", self._after)

    def _key(self, table: str, item: Mapping[str, Any]) -> Key:
        return table, str(item.get("pk", {}).get("S")) + "|" + str(item.get("sk", {}).get("S"))

    def _write(self, table: str, item: dict[str, Any]) -> None:
        self.wcu += math.ceil(item_size(item) / 1024)
        for _, included in self._indexes.get(self._table_ids.get(table, ""), []):
            entry = item if included is None else {k: v for k, v in item.items() if k in included}
            if included is None or all(k in item for k in included[:2]):
                self.wcu += math.ceil(max(item_size(entry), 1) / 1024)
        self._sizes[self._key(table, item)] = item_size(item)

    def _read(self, table: str, key: Mapping[str, Any], consistent: bool) -> None:
        size = self._sizes.get(self._key(table, key), 1)
        self.rru += math.ceil(size / 4096) * (1 if consistent else 0.5)

    def _before(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self._asked = params
        if model.name == "BatchWriteItem":
            for table, requests in params["RequestItems"].items():
                for request in requests:
                    if "PutRequest" in request:
                        self._write(table, request["PutRequest"]["Item"])
                    else:  # a delete costs the deleted item's size, at least one unit
                        size = self._sizes.pop(self._key(table, request["DeleteRequest"]["Key"]), 1)
                        self.wcu += math.ceil(size / 1024)
        elif model.name == "PutItem":
            self._write(params["TableName"], params["Item"])

    def _after(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        params = self._asked
        if model.name == "BatchGetItem":
            for table, request in params["RequestItems"].items():
                unprocessed = (parsed.get("UnprocessedKeys") or {}).get(table, {}).get("Keys", [])
                for key in request["Keys"]:
                    if key not in unprocessed:
                        self._read(table, key, bool(request.get("ConsistentRead")))
        elif model.name == "GetItem":
            self._read(params["TableName"], params["Key"], bool(params.get("ConsistentRead")))
        elif model.name == "Query":  # the items' sizes together, at least one unit (even when none match)
            size = sum(item_size(item) for item in parsed.get("Items", []))
            self.rru += max(1, math.ceil(size / 4096)) * (1 if params.get("ConsistentRead") else 0.5)
