"""The template's tables, buckets and queues, created in moto as CloudFormation would (keys, indexes,
streams, redrive policies), and a resolver for the intrinsic functions that name them."""

import json
from typing import Any

from loyalty_hub import aws
from loyalty_hub_dev.local import template
from loyalty_hub_dev.local.sources import REGION


def create_resources(
    names: dict[str, str], prefix: str, parameters: dict[str, str], *, create: bool = True
) -> template.Resolver:
    """Fills `names` (logical id -> table name, bucket name, queue URL); `create=False` finds them instead."""
    attributes: dict[tuple[str, str], str] = {}
    aws.reset()
    ddb, s3, sqs = aws.client("dynamodb"), aws.client("s3"), aws.client("sqs")
    for logical_id in template.tables():
        name = names[logical_id] = f"{prefix}-{logical_id}"
        if create:
            ddb.create_table(**template.table_definition(logical_id, name))
        table = ddb.describe_table(TableName=name)["Table"]
        attributes[(logical_id, "Arn")] = table["TableArn"]
        if "LatestStreamArn" in table:
            attributes[(logical_id, "StreamArn")] = table["LatestStreamArn"]
    for logical_id, bucket in template.resources("AWS::S3::Bucket").items():
        name = names[logical_id] = f"{prefix}-{logical_id}".lower()
        if create:
            _create_bucket(s3, name, bucket["Properties"])
        attributes[(logical_id, "Arn")] = f"arn:aws:s3:::{name}"
    queues = template.resources("AWS::SQS::Queue")
    # Dead-letter queues first: the queues that redrive to them need their ARNs.
    for logical_id in sorted(queues, key=lambda q: "RedrivePolicy" in queues[q]["Properties"]):
        props = queues[logical_id]["Properties"]
        fifo = bool(props.get("FifoQueue"))
        name = f"{prefix}-{logical_id}" + (".fifo" if fifo else "")
        attrs: dict[Any, str] = {"VisibilityTimeout": str(props.get("VisibilityTimeout", 30))}
        if fifo:
            attrs["FifoQueue"] = "true"
        if "RedrivePolicy" in props:
            dlq = props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
            attrs["RedrivePolicy"] = json.dumps(
                {
                    "deadLetterTargetArn": attributes[(dlq, "Arn")],
                    "maxReceiveCount": props["RedrivePolicy"]["maxReceiveCount"],
                }
            )
        if create:
            url = names[logical_id] = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
        else:
            url = names[logical_id] = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes.update({(logical_id, "Arn"): arn, (logical_id, "QueueName"): name})
    return template.Resolver(names, attributes, template.parameter_defaults() | parameters)


def _create_bucket(s3: Any, name: str, properties: dict[str, Any]) -> None:
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    if versioning := properties.get("VersioningConfiguration"):
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=versioning)  # erasure deletes old versions
