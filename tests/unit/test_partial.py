"""Partial batch responses: one bad record costs its record (and, on a FIFO queue, its group's later ones)."""

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty_hub import partial


def sqs(group: str, n: int) -> dict[str, Any]:
    return {"messageId": f"m{n}", "body": str(n), "attributes": {"MessageGroupId": group}}


def test_a_failed_fifo_message_holds_back_its_group_only() -> None:
    records = [sqs("a", 0), sqs("b", 1), sqs("a", 2), sqs("b", 3), sqs("a", 4)]
    handled = []

    def handle(record: partial.Record) -> None:
        if record["body"] == "2":
            raise ValueError("bad")
        handled.append(record["body"])

    assert partial.fifo_queue(records, handle) == {
        "batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m4"}]
    }
    assert handled == ["0", "1", "3"]  # m4 came after the failure in group a: never handled


@given(st.lists(st.tuples(st.sampled_from("abc"), st.booleans()), min_size=1, max_size=30))
def test_fifo_order_holds_in_every_group(plan: list[tuple[str, bool]]) -> None:
    records = [sqs(group, n) for n, (group, _) in enumerate(plan)]
    bad = {f"m{n}" for n, (_, fails) in enumerate(plan) if fails}
    handled: list[str] = []

    def handle(record: partial.Record) -> None:
        if record["messageId"] in bad:
            raise ValueError("bad")
        handled.append(record["messageId"])

    try:
        failed = {f["itemIdentifier"] for f in partial.fifo_queue(records, handle)["batchItemFailures"]}
    except partial.AllRecordsFailed:
        failed = {r["messageId"] for r in records}
    assert failed | set(handled) == {r["messageId"] for r in records} and not failed & set(handled)
    for group in "abc":
        ids = [r["messageId"] for r in records if r["attributes"]["MessageGroupId"] == group]
        done = [i for i in ids if i in handled]
        assert done == ids[: len(done)]  # a group's handled messages are a prefix of it


def test_a_stream_reports_each_failed_record_and_handles_the_rest() -> None:
    records = [{"dynamodb": {"SequenceNumber": str(n)}} for n in range(4)]
    handled = []

    def handle(record: partial.Record) -> None:
        if record["dynamodb"]["SequenceNumber"] == "1":
            raise ValueError("bad")
        handled.append(record["dynamodb"]["SequenceNumber"])

    assert partial.stream(records, handle) == {"batchItemFailures": [{"itemIdentifier": "1"}]}
    assert handled == ["0", "2", "3"]


def test_a_batch_where_every_record_failed_fails_the_invocation() -> None:
    def handle(_: partial.Record) -> None:
        raise ValueError("bad")

    with pytest.raises(partial.AllRecordsFailed, match="all 2 records"):
        partial.fifo_queue([sqs("a", 0), sqs("b", 1)], handle)
    assert partial.stream([], handle) == {"batchItemFailures": []}
