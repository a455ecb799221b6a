"""Whether a function's IAM policy in the translated template allows an AWS call the local stack traced
(loyalty_hub_dev.local.trace): the call's IAM action and resource ARN, against the role's inline
statements with every name resolved as the local stack resolved it. Only Allow statements exist in
our policies; the managed policies SAM attaches for event sources (AWSLambdaBasicExecutionRole,
AWSLambdaSQSQueueExecutionRole, AWSLambdaDynamoDBExecutionRole) serve Lambda's own pollers and are
not counted: a call our code makes must be granted by a statement we wrote."""

import fnmatch
from typing import Any

from loyalty_hub_dev.local.template import Resolver

# The IAM action that authorises an API operation, where the two differ.
ACTIONS = {
    ("sqs", "SendMessageBatch"): "sqs:SendMessage",
    ("sqs", "DeleteMessageBatch"): "sqs:DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "sqs:ChangeMessageVisibility",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjectVersions"): "s3:ListBucketVersions",
    ("s3", "HeadObject"): "s3:GetObject",
    ("dynamodbstreams", "GetRecords"): "dynamodb:GetRecords",
    ("dynamodbstreams", "GetShardIterator"): "dynamodb:GetShardIterator",
}
ACCOUNT, REGION = "123456789012", "eu-central-1"


def requests(call: dict[str, Any], stream_arn: str) -> list[tuple[str, str]]:
    """(action, resource ARN) pairs a traced call needs."""
    service, operation = call["service"], call["operation"]
    action = ACTIONS.get((service, operation), f"{service}:{operation}")
    if service == "s3" and call.get("VersionId") and operation in ("GetObject", "DeleteObject"):
        action += "Version"  # a named version is its own IAM action: s3:GetObjectVersion, s3:DeleteObjectVersion
    if service == "dynamodb":
        tables = call.get("Tables") or [call["TableName"]]
        suffix = f"/index/{call['IndexName']}" if call.get("IndexName") else ""
        return [(action, f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{t}{suffix}") for t in tables]
    if service == "dynamodbstreams":
        return [(action, call.get("StreamArn", stream_arn))]  # GetRecords names only an iterator
    if service == "s3":
        key = call.get("Key")
        return [(action, f"arn:aws:s3:::{call['Bucket']}" + (f"/{key}" if key else ""))]
    if service == "sqs":
        return [(action, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{call['QueueUrl'].rsplit('/', 1)[-1]}")]
    if service == "secretsmanager":
        return [(action, f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{call['SecretId']}-AbCdEf")]
    raise AssertionError(f"no IAM mapping for {service}:{operation}")


def statements(translated: dict[str, Any], function: str, resolver: Resolver) -> list[dict[str, Any]]:
    role = translated["Resources"][f"{function}Role"]["Properties"]
    return [
        resolver(statement)
        for policy in role.get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]


def allows(granted: list[dict[str, Any]], action: str, arn: str, prefix: str | None = None) -> bool:
    for statement in granted:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if statement["Effect"] != "Allow" or not any(fnmatch.fnmatchcase(action, a) for a in actions):
            continue
        if not any(fnmatch.fnmatchcase(arn, r) for r in resources):
            continue
        condition = statement.get("Condition", {}).get("StringLike", {}).get("s3:prefix")
        if condition and not (prefix is not None and any(fnmatch.fnmatchcase(prefix, c) for c in condition)):
            continue
        return True
    return False
