"""Sync snapshots: the records of one DailyStory sync, read from the index once and paged from here.

DailyStory pages with an offset (`start`). Reading the index from the top for every page would cost
O(pages^2) reads; remembering only where each page ended would still need a second full read for the
`count`. A snapshot taken when a sync starts (start=0) answers `count` and every page from one read,
and keeps offsets stable while customers change underneath. Kept in memory for the warm execution
environment and in S3 (chunked) for the others, for SNAPSHOT_TTL_SECONDS.
"""

import hashlib
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from loyalty_hub import warm
from loyalty_hub.errors import Unavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

Record = dict[str, Any]
CHUNK = 500  # records per S3 object: a page (limit <= 500) touches at most two
_MEMORY_SLOTS = 8


@dataclass(frozen=True)
class Snapshot:
    snapshot_id: str
    count: int
    created_at: float  # epoch seconds
    records: Sequence[Record] | None = None  # in memory; None when only the S3 copy is at hand


class SnapshotStore:
    def __init__(
        self,
        s3: "S3Client",
        bucket: str,
        *,
        ttl_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._ttl = ttl_seconds
        self._clock = clock

    @staticmethod
    def _prefix(tenant_id: str, since: str) -> str:
        return f"snapshots/{tenant_id}/{hashlib.sha256(since.encode()).hexdigest()[:32]}"

    def put(self, tenant_id: str, since: str, records: Sequence[Record]) -> Snapshot:
        snapshot = Snapshot(uuid.uuid4().hex, len(records), self._clock(), records)
        prefix = self._prefix(tenant_id, since)
        try:
            for number, first in enumerate(range(0, len(records), CHUNK)):
                self._put_json(f"{prefix}/{snapshot.snapshot_id}/{number:06d}.json", records[first : first + CHUNK])
            self._put_json(
                f"{prefix}/current.json",
                {"id": snapshot.snapshot_id, "count": snapshot.count, "created_at": snapshot.created_at},
            )
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable("could not store the sync snapshot") from exc
        _remember((tenant_id, since), snapshot)
        return snapshot

    def get(self, tenant_id: str, since: str) -> Snapshot | None:
        """The live snapshot for this sync, or None when there is none or it expired."""
        snapshot = _memory.get((tenant_id, since))
        if snapshot is None:
            try:
                manifest = self._get_json(f"{self._prefix(tenant_id, since)}/current.json")
            except self._s3.exceptions.NoSuchKey:
                return None
            except (ClientError, BotoCoreError) as exc:
                raise Unavailable("could not read the sync snapshot") from exc
            snapshot = Snapshot(manifest["id"], manifest["count"], manifest["created_at"])
        if self._clock() - snapshot.created_at > self._ttl:
            return None
        return snapshot

    def page(self, tenant_id: str, since: str, snapshot: Snapshot, start: int, limit: int) -> list[Record]:
        end = min(start + limit, snapshot.count)
        if start >= end:
            return []
        if snapshot.records is not None:
            return list(snapshot.records[start:end])
        prefix = f"{self._prefix(tenant_id, since)}/{snapshot.snapshot_id}"
        records: list[Record] = []
        try:
            for number in range(start // CHUNK, (end - 1) // CHUNK + 1):
                records.extend(self._get_json(f"{prefix}/{number:06d}.json"))
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable("could not read the sync snapshot") from exc
        offset = start - (start // CHUNK) * CHUNK
        return records[offset : offset + (end - start)]

    def _put_json(self, key: str, value: Any) -> None:
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=orjson.dumps(value), ContentType="application/json")

    def _get_json(self, key: str) -> Any:
        return orjson.loads(self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read())


_memory: OrderedDict[tuple[str, str], Snapshot] = OrderedDict()


def _remember(key: tuple[str, str], snapshot: Snapshot) -> None:
    _memory[key] = snapshot
    _memory.move_to_end(key)
    while len(_memory) > _MEMORY_SLOTS:
        _memory.popitem(last=False)


@warm.forgets
def forget_all() -> None:
    """Drop the in-memory copies (tests: a cold execution environment)."""
    _memory.clear()
