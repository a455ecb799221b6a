"""Each customer's bill ledger, one item per bill, in EntitiesTable beside the entities (D50):

- `<tenant>#~ledger#<customer>` / bill id: `e`, the bill's ledger entry (JSON text: nothing queries inside
  it), and `rb`, the corrective bills on this ledger that point at it. An item with `rb` only is a
  placeholder for an original that has not arrived; an item with neither is deleted.
- `<tenant>#~open` / `<attempt>#<n>`: the bills an ingest attempt is changing, per customer, written before
  its ledger items and deleted once its customers are written. One left behind names the customers whose
  summaries a crash may have left behind their ledgers (logic.customer_writes rebuilds them).
"""

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

import orjson

from loyalty_hub.dal.batch import KeyAttributes, batch_delete, batch_get, batch_put, query_partition
from loyalty_hub.dal.codec import to_item
from loyalty_hub.errors import Refused, Unavailable
from loyalty_hub.limits import item_problem, strings_item_problem

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

KEYS = KeyAttributes(partition=("pk",), sort=("sk",))
OPEN_RECORD_BYTES: Final = 300_000  # the bills' JSON per open record item: below 400 KB with the longest keys

Stored = dict[str, Any]  # {"e": entry or None, "rb": [bill ids]}: what rules.ledger makes a Slot of
SlotKey = tuple[str, str]  # (customer id, bill id)


def _pk(tenant_id: str, customer_id: str) -> str:
    return f"{tenant_id}#~ledger#{customer_id}"  # "~" is never in a Storyous domain name (dal.appearances)


def _stored(item: Mapping[str, Any]) -> Stored:
    entry = item.get("e")
    return {"e": orjson.loads(entry) if entry else None, "rb": sorted(item.get("rb") or ())}


class LedgerStore:
    def __init__(self, client: "DynamoDBClient", table: str) -> None:
        self._client = client
        self._table = table

    def get(self, tenant_id: str, slots: Iterable[SlotKey]) -> dict[SlotKey, Stored]:
        """The stored slots among those asked for (strongly consistent: ingest reads what it just wrote)."""
        wanted = sorted(set(slots))
        pks = {cid: _pk(tenant_id, cid) for cid, _ in wanted}  # once a customer, not once a bill
        keys = [{"pk": {"S": pks[cid]}, "sk": {"S": bid}} for cid, bid in wanted]
        if not keys:
            return {}
        found = batch_get(self._client, self._table, keys)
        by_pk = {pk: cid for cid, pk in pks.items()}
        return {(by_pk[i["pk"]["S"]], i["sk"]["S"]): _stored(_plain(i)) for i in found}

    def of_customer(self, tenant_id: str, customer_id: str) -> dict[str, Stored]:
        """The customer's whole ledger, bill id -> slot: one Query per MB (~5,000 bills)."""
        return {
            str(i["sk"]): _stored(i) for i in query_partition(self._client, self._table, _pk(tenant_id, customer_id))
        }

    def write(self, tenant_id: str, slots: Mapping[SlotKey, Stored]) -> dict[SlotKey, Refused]:
        """Puts each slot, deleting those that hold nothing; returns the slots refused for good."""
        puts = {key: s for key, s in sorted(slots.items()) if s["e"] is not None or s["rb"]}
        refused: dict[SlotKey, Refused] = {}
        passing: list[tuple[SlotKey, dict[str, Any]]] = []
        for key, slot in puts.items():
            item, problem = _item(_pk(tenant_id, key[0]), key[1], slot)
            if problem:
                refused[key] = Refused(*problem)
            else:
                passing.append((key, item))
        for index, error in batch_put(self._client, self._table, [i for _, i in passing], checked=True).items():
            refused[passing[index][0]] = error
        gone = [{"pk": {"S": _pk(tenant_id, cid)}, "sk": {"S": bid}} for cid, bid in sorted(slots.keys() - puts.keys())]
        batch_delete(self._client, self._table, gone)
        return refused

    def open(self, tenant_id: str, attempt: str, bills: Mapping[str, Iterable[str]]) -> list[str]:
        """Notes the bills an attempt changes (customer -> bill ids), over as many items as their JSON needs;
        returns the record's sort keys."""
        chunks: list[dict[str, list[str]]] = []
        size = OPEN_RECORD_BYTES
        for cid in sorted(bills):
            customer_cost = len(orjson.dumps(cid)) + 4
            for bid in sorted(bills[cid]):
                # The pair's JSON, its customer id counted each time: an upper bound, whatever the ids hold.
                cost = customer_cost + len(orjson.dumps(bid))
                if size + cost > OPEN_RECORD_BYTES:
                    chunks.append({})
                    size = 0
                chunks[-1].setdefault(cid, []).append(bid)
                size += cost
        sks = [f"{attempt}#{n:04d}" for n in range(len(chunks))]
        items = [
            to_item({"pk": f"{tenant_id}#~open", "sk": sk, "bills": orjson.dumps(chunk).decode()})
            for sk, chunk in zip(sks, chunks, strict=True)
        ]
        if refused := batch_put(self._client, self._table, items, keys=KEYS):
            raise Unavailable(f"open ledger record refused {len(refused)} item(s)")  # bounded by construction
        return sks

    def opened(self, tenant_id: str) -> dict[str, dict[str, list[str]]]:
        """Open records left by attempts that did not finish: sort key -> customer -> bill ids."""
        return {
            str(i["sk"]): orjson.loads(str(i["bills"]))
            for i in query_partition(self._client, self._table, f"{tenant_id}#~open")
        }

    def close(self, tenant_id: str, sort_keys: Iterable[str]) -> None:
        keys = [{"pk": {"S": f"{tenant_id}#~open"}, "sk": {"S": sk}} for sk in sorted(set(sort_keys))]
        batch_delete(self._client, self._table, keys)


def _item(pk: str, bill_id: str, slot: Stored) -> tuple[dict[str, Any], tuple[str, str] | None]:
    """A slot's item, its attribute values written directly (strings and a list of them: no codec needed),
    and why DynamoDB would refuse it (None: it would not)."""
    item: dict[str, Any] = {"pk": {"S": pk}, "sk": {"S": bill_id}}
    characters = len("pksk") + len(pk) + len(bill_id)  # counted as it is built (test_limits holds it exact)
    if slot["e"] is not None:
        entry = orjson.dumps(slot["e"], option=orjson.OPT_SORT_KEYS).decode()
        item["e"] = {"S": entry}
        characters += len("e") + len(entry)
    if not slot["rb"]:
        return item, strings_item_problem(item, characters, partition_keys=KEYS.partition, sort_keys=KEYS.sort)
    item["rb"] = {"L": [{"S": b} for b in sorted(slot["rb"])]}
    return item, item_problem(item, partition_keys=KEYS.partition, sort_keys=KEYS.sort)


def _plain(item: Mapping[str, Any]) -> dict[str, Any]:
    """`e` and `rb` from a raw item (strings and a list of strings: no deserializer needed)."""
    return {
        "e": item["e"]["S"] if "e" in item else None,
        "rb": [v["S"] for v in item["rb"]["L"]] if "rb" in item else [],
    }
