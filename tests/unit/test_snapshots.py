"""Sync snapshots read back from S3 give every page exactly the ids at its offsets, whatever the ids hold."""

from collections.abc import Iterator

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from loyalty_hub.dal import snapshots
from loyalty_hub.dal.snapshots import BLOCK, SnapshotStore

BUCKET = "snapshots-test"


@pytest.fixture(scope="module")
def store() -> Iterator[SnapshotStore]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-central-1")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
        yield SnapshotStore(s3, BUCKET, ttl_seconds=1800)


ids = st.lists(st.text(min_size=1, max_size=20), min_size=0, max_size=3 * BLOCK + 7, unique=True)


@given(ids=ids, start=st.integers(0, 400), limit=st.integers(1, 500))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_cold_page_is_the_slice_of_the_ids_taken(
    store: SnapshotStore, ids: list[str], start: int, limit: int
) -> None:
    taken = store.put("T1", "since", ids)
    snapshots.forget_all()  # another execution environment: the page comes from S3
    cold = store.get("T1", "since")
    assert cold is not None and cold.ids is None and cold.count == len(ids)
    assert store.page("T1", "since", cold, start, limit) == ids[start : start + limit]
    assert store.page("T1", "since", taken, start, limit) == ids[start : start + limit]


def test_a_cold_page_reads_only_its_blocks(store: SnapshotStore) -> None:
    many = [f"C{i:06d}" for i in range(10 * BLOCK)]
    store.put("T1", "blocks", many)
    snapshots.forget_all()
    cold = store.get("T1", "blocks")
    assert cold is not None
    read: list[int] = []
    store._s3.meta.events.register("after-call.s3.GetObject", lambda parsed, **_: read.append(parsed["ContentLength"]))
    assert store.page("T1", "blocks", cold, 5 * BLOCK + 3, 25) == many[5 * BLOCK + 3 : 5 * BLOCK + 28]
    assert read == [cold.offsets[6] - cold.offsets[5]]  # one block of BLOCK ids, not the whole snapshot


def test_a_manifest_from_before_ids_means_no_snapshot(store: SnapshotStore) -> None:
    store.put("T1", "old", ["a"])
    prefix = SnapshotStore._prefix("T1", "old")
    store._s3.put_object(
        Bucket=BUCKET, Key=f"{prefix}/current.json", Body=b'{"id": "x", "count": 1, "created_at": 1e12}'
    )
    snapshots.forget_all()
    assert store.get("T1", "old") is None
