"""The translated template, created on moto's CloudFormation: template errors show here, not in a deploy,
and the admin command finds every output it reads from a stack (`--stack NAME`).

moto is not CloudFormation; the adjustments made to the translated template for it, and only for it:
- FIFO queues get an explicit `.fifo` name (CloudFormation appends it to a generated name; moto refuses);
- the API's Deployment and Stage are left out: moto does not import the OpenAPI body, so it sees a REST
  API without methods and refuses to deploy it (cfn-lint and checkov check both);
- alarms are left out (moto's CloudFormation has no AWS::CloudWatch::Alarm) and the dashboard's alarm
  widget names their ARNs by pattern instead; test_template.py checks every alarm.
Resource types moto ignores with a warning (bucket and topic policies, schedules, event invoke configs)
are checked in test_template.py.
"""

import copy
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from loyalty_hub_dev.admin import Admin, Target
from tests.support.stack import REGION
from tests.support.translated import translated

STACK = "loyalty-hub-prod"


def _for_moto(template: dict[str, Any]) -> dict[str, Any]:
    moto = copy.deepcopy(template)
    resources = moto["Resources"]
    for name, r in resources.items():
        if r["Type"] == "AWS::SQS::Queue" and r["Properties"].get("FifoQueue"):
            r["Properties"]["QueueName"] = f"{name}.fifo"
    alarms = [name for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"]
    body = resources["Dashboard"]["Properties"]["DashboardBody"]
    for alarm in alarms:
        arn = f"arn:${{AWS::Partition}}:cloudwatch:${{AWS::Region}}:${{AWS::AccountId}}:alarm:{alarm}"
        body["Fn::Sub"] = body["Fn::Sub"].replace(f"${{{alarm}.Arn}}", arn)
    skipped = {"AWS::ApiGateway::Deployment", "AWS::ApiGateway::Stage", "AWS::CloudWatch::Alarm"}
    for name in [n for n, r in resources.items() if r["Type"] in skipped]:
        del resources[name]
    return moto


def _upload_code(template: dict[str, Any]) -> None:
    """What `sam deploy` uploads: any zip will do, moto does not run it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def lambda_handler(event, context):\n    return None\n")
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="sam-artifacts", CreateBucketConfiguration={"LocationConstraint": REGION})
    for r in template["Resources"].values():
        code = r["Properties"].get("Code") or r["Properties"].get("Content")
        if code:
            s3.put_object(Bucket=code["S3Bucket"], Key=code["S3Key"], Body=buffer.getvalue())


@pytest.fixture
def created() -> Iterator[dict[str, Any]]:
    with mock_aws():  # an empty account: the stack below creates everything
        yield _create()


def _create() -> dict[str, Any]:
    template = _for_moto(translated())
    _upload_code(template)
    cfn = boto3.client("cloudformation", region_name=REGION)
    cfn.create_stack(
        StackName=STACK,
        TemplateBody=json.dumps(template),
        Parameters=[
            {"ParameterKey": "Stage", "ParameterValue": "prod"},
            {"ParameterKey": "DeletionProtection", "ParameterValue": "true"},
        ],
        Capabilities=["CAPABILITY_IAM"],
    )
    described: dict[str, Any] = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
    return described


def test_the_translated_template_creates_every_resource_moto_knows(created: dict[str, Any]) -> None:
    assert created["StackStatus"] == "CREATE_COMPLETE"
    summaries = boto3.client("cloudformation", region_name=REGION).list_stack_resources(StackName=STACK)
    statuses = {s["LogicalResourceId"]: s["ResourceStatus"] for s in summaries["StackResourceSummaries"]}
    kinds = {n: r["Type"] for n, r in translated()["Resources"].items()}
    for kind in ("AWS::Lambda::Function", "AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::IAM::Role"):
        expected = {n for n, k in kinds.items() if k == kind}
        assert expected and all(statuses.get(n) == "CREATE_COMPLETE" for n in expected), kind
    assert len(expected) >= 9  # every function has its own role


def test_the_admin_command_reaches_a_created_stack_by_its_outputs(created: dict[str, Any]) -> None:
    target = Target.from_stack(STACK)
    assert target.secrets_prefix == "loyalty-hub/prod"
    assert set(target.vendor_queues) == {"custobar", "voyado", "orderingstack"}
    admin = Admin(target)
    admin.create_tenant("m1", "Café", "Europe/Prague", "CZ", {"p1": "Square"})
    admin.set_webhook_secret("m1", None)
    assert admin.show("m1")["secrets"] == ["loyalty-hub/prod/webhook/m1"]
    assert boto3.client("dynamodb", region_name=REGION).describe_table(TableName=target.tenants_table)
