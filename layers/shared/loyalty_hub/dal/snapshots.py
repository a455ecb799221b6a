"""Sync snapshots: the customer ids of one DailyStory sync, in order, read from the index once.

DailyStory pages with an offset (`start`). Reading the index from the top for every page would cost
O(pages^2) reads; remembering only where each page ended would still need a second full read for the
`count`. A snapshot taken when a sync starts (start=0) answers `count` and every page's ids from one
read of the slim index, and keeps offsets stable while customers change underneath; each page then reads
its own records. Ids, not records: a first page at 100k customers would otherwise read and store every
record (D44).

Kept in memory for the warm execution environment and in S3 for the others, for SNAPSHOT_TTL_SECONDS:
one object of JSON lines (an id each) and a manifest holding the byte offset of every BLOCK-th line, so
a cold page reads only the blocks it needs with one ranged GET.
"""

import hashlib
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from loyalty_hub import warm
from loyalty_hub.errors import Unavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

BLOCK = 100  # ids per ranged read: a cold page of 25 parses at most 200 ids
_MEMORY_SLOTS = 8


@dataclass(frozen=True)
class Snapshot:
    snapshot_id: str
    count: int
    created_at: float  # epoch seconds
    offsets: Sequence[int] = field(default=(), repr=False)  # byte offset of line k*BLOCK, then the end
    ids: Sequence[str] | None = field(default=None, repr=False)  # in memory; None when read back from S3


def encode(ids: Sequence[str]) -> tuple[bytes, list[int]]:
    """The ids as JSON lines, and the byte offset of every BLOCK-th line followed by the total length."""
    lines = [orjson.dumps(i) + b"\n" for i in ids]
    offsets, position = [], 0
    for number, line in enumerate(lines):
        if number % BLOCK == 0:
            offsets.append(position)
        position += len(line)
    return b"".join(lines), [*offsets, position]


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

    def put(self, tenant_id: str, since: str, ids: Sequence[str]) -> Snapshot:
        body, offsets = encode(ids)
        snapshot = Snapshot(uuid.uuid4().hex, len(ids), self._clock(), offsets, ids)
        prefix = self._prefix(tenant_id, since)
        manifest = {"id": snapshot.snapshot_id, "count": snapshot.count, "created_at": snapshot.created_at}
        try:
            self._s3.put_object(Bucket=self._bucket, Key=f"{prefix}/{snapshot.snapshot_id}.jsonl", Body=body)
            self._put_json(f"{prefix}/current.json", {**manifest, "offsets": offsets})
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
            if "offsets" not in manifest:
                return None  # written before snapshots held ids: a new one is taken
            snapshot = Snapshot(manifest["id"], manifest["count"], manifest["created_at"], manifest["offsets"])
        if self._clock() - snapshot.created_at > self._ttl:
            return None
        return snapshot

    def page(self, tenant_id: str, since: str, snapshot: Snapshot, start: int, limit: int) -> list[str]:
        """The ids at offsets [start, start + limit) of the snapshot."""
        end = min(start + limit, snapshot.count)
        if start >= end:
            return []
        if snapshot.ids is not None:
            return list(snapshot.ids[start:end])
        first, last = start // BLOCK, (end - 1) // BLOCK
        ids = self._blocks(f"{self._prefix(tenant_id, since)}/{snapshot.snapshot_id}.jsonl", snapshot, first, last)
        return ids[start - first * BLOCK : end - first * BLOCK]

    def _blocks(self, key: str, snapshot: Snapshot, first: int, last: int) -> list[str]:
        """The ids of blocks first..last, in one ranged read."""
        span = f"bytes={snapshot.offsets[first]}-{snapshot.offsets[last + 1] - 1}"
        try:
            body = self._s3.get_object(Bucket=self._bucket, Key=key, Range=span)["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            raise Unavailable("could not read the sync snapshot") from exc
        return [orjson.loads(line) for line in body.splitlines()]

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
