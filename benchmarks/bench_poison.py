"""Part 1b: one bad record costs one record.

- a delivery of 1,000 bills with 1 % poison (each kind ingest must quarantine) against the same
  delivery clean: DynamoDB requests (moto, counted by a botocore hook) and CPU time (in-memory clients,
  interleaved pairs, median of the pairwise ratios);
- from a poison delivery's acceptance to the tenant's next delivery being ingested, through the ingest
  handler on moto's FIFO queue: how many receives, and the time.
"""

import json
import time
from collections import Counter
from typing import Any

from moto import mock_aws

from benchmarks import payloads
from benchmarks.bench_ingest import BILLS, CUSTOMERS, count_requests, ingest_in_memory
from benchmarks.fakes import LambdaContext
from benchmarks.timing import interleaved
from loyalty_hub import aws, config
from loyalty_hub.dal import archive as archive_dal
from loyalty_hub.dal import tenants
from loyalty_hub.limits import MAX_ITEM_BYTES
from loyalty_hub.logic import ingest
from tests.support.deliveries import archive
from tests.support.stack import MERCHANT, PLACE, Stack, add_tenant, create_stack

PAIRS = 15
KINDS = 5  # version out of range, too large, id too long, price 1e200, 39-digit price


def poisoned(bills: list[dict[str, Any]], share: float = 0.01) -> list[dict[str, Any]]:
    """The same bills with every 1/share-th one made poison, the kinds taking turns."""
    out = [dict(b) for b in bills]
    step = round(1 / share)
    for n, index in enumerate(range(step // 2, len(out), step)):
        b = out[index]
        match n % KINDS:
            case 0:
                b["_lastModifiedAt"] = "0001-01-01T00:00:00+14:00"
            case 1:
                b["note"] = "x" * MAX_ITEM_BYTES
            case 2:
                b["billId"] = str(b["billId"]) + "p" * 1100
            case 3:
                b["finalPrice"] = 1e200
            case 4:
                b["finalPrice"] = "1" * 39
    return out


def receives_until_next_delivery(bills: list[dict[str, Any]]) -> tuple[int, float, int]:
    """Poison delivery then a clean one for the same tenant on the FIFO queue, drained the way Lambda
    polls it; returns receives until the second is ingested, the seconds it took, and records quarantined."""
    from functions.ingest import app as ingest_app  # noqa: PLC0415 - reads the environment set below

    with mock_aws():
        stack: Stack = create_stack()
        add_tenant(stack)
        import os  # noqa: PLC0415

        os.environ.update(stack.env())
        config.load.cache_clear()
        ingest.default_deps.cache_clear()
        tenants.clear_cache()
        sqs = aws.client("sqs")
        first = archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", poisoned(bills))
        second = archive(stack.raw_bucket, MERCHANT, PLACE, "Bills", [dict(bills[0], billId="NEXT")])
        started = time.monotonic()
        for pointer in (first, second):
            archive_dal.enqueue(sqs, stack.ingest_queue_url, pointer)
        receives = 0
        next_done = False
        while not next_done and receives < 10:
            receives += 1
            messages = sqs.receive_message(
                QueueUrl=stack.ingest_queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
            ).get("Messages", [])
            event = {
                "Records": [
                    {
                        "messageId": m["MessageId"],
                        "receiptHandle": m["ReceiptHandle"],
                        "body": m["Body"],
                        "attributes": {**m["Attributes"], "MessageGroupId": MERCHANT},
                        "messageAttributes": {},
                        "md5OfBody": m["MD5OfBody"],
                        "eventSource": "aws:sqs",
                        "eventSourceARN": "arn:aws:sqs:eu-central-1:123456789012:IngestQueue.fifo",
                        "awsRegion": "eu-central-1",
                    }
                    for m in messages
                ]
            }
            failed = {
                f["itemIdentifier"]
                for f in ingest_app.lambda_handler(event, LambdaContext("IngestFunction"))["batchItemFailures"]
            }
            for m in messages:
                if m["MessageId"] not in failed:
                    sqs.delete_message(QueueUrl=stack.ingest_queue_url, ReceiptHandle=m["ReceiptHandle"])
                    next_done |= json.loads(m["Body"])["key"] == second.key
        elapsed = time.monotonic() - started
        quarantined = ingest.default_deps().quarantine.count(MERCHANT)
        aws.reset()
        ingest.default_deps.cache_clear()
    return receives, elapsed, quarantined


def main() -> None:
    bills = payloads.bills(BILLS, CUSTOMERS)
    dirty = poisoned(bills)
    poison = sum(1 for a, b in zip(bills, dirty, strict=True) if a != b)
    print(f"== poison: {BILLS:,} bills with {poison} poison ({poison / BILLS:.0%}) against the same delivery clean")
    clean_requests, _, _ = count_requests(bills)
    dirty_requests, _, _ = count_requests(dirty, expect_written=BILLS - poison)
    total = Counter(clean_requests)
    print(
        f"DynamoDB requests: clean {sum(total.values())}, with poison {sum(dirty_requests.values())} "
        f"({', '.join(f'{k} {v}' for k, v in sorted((Counter(dirty_requests) - total).items())) or 'no extra'})"
    )
    tenants.clear_cache()
    cpu = interleaved(
        ingest_in_memory(payloads.envelope("Bills", bills), BILLS),
        ingest_in_memory(payloads.envelope("Bills", dirty), BILLS),
        PAIRS,
    )
    clean_ms, dirty_ms, ratio = cpu.a_ms, cpu.b_ms, cpu.ratio
    print(
        f"CPU: clean {clean_ms:.1f} ms, with poison {dirty_ms:.1f} ms (medians of {PAIRS} interleaved pairs; "
        f"ratio of medians {dirty_ms / clean_ms:.2f})"
    )
    print(
        f"cost with 1 % poison / clean: {ratio:.2f} (CPU), "
        f"{sum(dirty_requests.values()) / sum(total.values()):.2f} (requests)   (target <= 1.10)"
    )
    receives, seconds, quarantined = receives_until_next_delivery(bills)
    print(
        f"poison delivery accepted -> tenant's next delivery ingested: {receives} receive(s), {seconds:.2f} s "
        f"here, {quarantined} records quarantined   (target: 1 receive, not a 720 s visibility timeout)"
    )
