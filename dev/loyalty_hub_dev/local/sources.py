"""The local stack's event sources, as Lambda runs them: SQS and DynamoDB Streams pollers, and the
schedules (rate expressions timed here; cron and at only fired on demand)."""

import json
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import boto3

from loyalty_hub import aws

if TYPE_CHECKING:
    from loyalty_hub_dev.local.functions import Function

REGION: Final = "eu-central-1"
RETRY_AFTER_SECONDS = 2  # a failed message is visible again this soon (Lambda waits the visibility timeout)
MOTO_ACCOUNT = "123456789012"  # moto's default account


def poll_sqs(function: "Function", url: str, source: dict[str, Any], stopping: threading.Event) -> None:
    """An SQS event source mapping: batches of received messages, deleted unless reported failed."""
    sqs = boto3.client("sqs", region_name=REGION)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    reports_failures = "ReportBatchItemFailures" in source.get("FunctionResponseTypes", [])
    while not stopping.is_set():
        received = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(10, int(source.get("BatchSize", 10))),
            WaitTimeSeconds=1,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            continue
        event = {"Records": [_sqs_record(m, arn) for m in received]}
        try:
            result = function.handler(event, function.context())
            failed = (
                {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
                if reports_failures
                else set()
            )
        except Exception:
            failed = {m["MessageId"] for m in received}
        for message in received:
            if message["MessageId"] in failed:
                sqs.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=RETRY_AFTER_SECONDS
                )
            else:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def poll_stream(function: "Function", table: str, source: dict[str, Any], stopping: threading.Event) -> None:
    """DynamoDB Streams, read from moto's backend in this process (its HTTP API does not answer this
    botocore), handed to the function in batches; a reported failure is retried from that record."""
    from moto.dynamodbstreams.models import dynamodbstreams_backends  # noqa: PLC0415 - moto runs in this process

    backend = dynamodbstreams_backends[MOTO_ACCOUNT][REGION]
    arn = aws.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = backend.describe_stream(arn)["Shards"][0]["ShardId"]
    iterator = backend.get_shard_iterator(arn, shard, "TRIM_HORIZON").arn
    reports_failures = "ReportBatchItemFailures" in source.get("FunctionResponseTypes", [])
    while not stopping.is_set():
        page = backend.get_records(iterator, int(source.get("BatchSize", 100)))
        records = [{**json.loads(json.dumps(r, default=str)), "eventSourceARN": arn} for r in page["Records"]]
        if not records:
            iterator = page["NextShardIterator"]
            stopping.wait(0.5)
            continue
        try:
            result = function.handler({"Records": records}, function.context())
            failed = (
                [f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])] if reports_failures else []
            )
        except Exception:
            failed = [records[0]["dynamodb"]["SequenceNumber"]]
        if failed:
            iterator = backend.get_shard_iterator(arn, shard, "AT_SEQUENCE_NUMBER", min(failed, key=int)).arn
            stopping.wait(RETRY_AFTER_SECONDS)
        else:
            iterator = page["NextShardIterator"]


RATE_UNITS: Final = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


@dataclass
class Schedule:
    function: str
    expression: str
    input: dict[str, Any]
    every_seconds: float | None  # None: a cron() or at() expression, fired on demand only here
    runs: int = 0
    last_result: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_event(cls, function: str, properties: dict[str, Any]) -> "Schedule":
        expression = str(properties["ScheduleExpression"])
        return cls(function, expression, json.loads(properties.get("Input", "{}")), rate_seconds(expression))

    def describe(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "expression": self.expression,
            "input": self.input,
            "runs": self.runs,
            "last_result": self.last_result,
        }


def rate_seconds(expression: str) -> float | None:
    """`rate(15 minutes)` in seconds; None for cron() and at(), which the local stack does not time."""
    if not (expression.startswith("rate(") and expression.endswith(")")):
        return None
    value, _, unit = expression[5:-1].strip().partition(" ")
    if not value.isdigit() or unit.strip() not in RATE_UNITS or int(value) < 1:
        raise ValueError(f"not a Scheduler rate expression: {expression}")
    return int(value) * RATE_UNITS[unit.strip()]


def _sqs_record(message: Any, arn: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": REGION,
    }
