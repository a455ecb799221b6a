"""A loyalty-hub account in moto, built from template.yaml: used by tests and benchmarks alike."""

import json
from dataclasses import dataclass, replace
from typing import Any

import boto3

from loyalty_hub.auth import DAILYSTORY_KEY_HASHES, hash_api_key, new_api_key
from loyalty_hub.dal import tenants
from loyalty_hub.models.tenant import Place, Tenant
from loyalty_hub.secrets import Use, split
from loyalty_hub_dev.admin.secrets import SecretStore
from loyalty_hub_dev.local import template

REGION = "eu-central-1"
SECRETS_PREFIX = "loyalty-hub/test"
MERCHANT = "60b6512e66943300381c2d24"
PLACE = "60b6512e66943300381c2d25"
OTHER_PLACE = "60b6512e66943300381c2d26"
WEBHOOK_SECRET = "demo-webhook-secret"


@dataclass(frozen=True)
class Stack:
    """Names of the resources of one test account, as the template's functions see them."""

    tenants_table: str = "Tenants"
    entities_table: str = "Entities"
    customers_table: str = "Customers"
    raw_bucket: str = "loyalty-hub-raw-test"
    snapshot_bucket: str = "loyalty-hub-snapshots-test"
    ingest_queue_url: str = ""
    ingest_dlq_url: str = ""
    custobar_queue_url: str = ""
    custobar_dlq_url: str = ""
    voyado_queue_url: str = ""
    voyado_dlq_url: str = ""
    orderingstack_queue_url: str = ""
    orderingstack_dlq_url: str = ""
    rate_limit_table: str = "RateLimits"
    sync_state_table: str = "SyncState"
    quarantine_table: str = "Quarantine"
    vendor_ledger_table: str = "VendorLedger"

    def env(self) -> dict[str, str]:
        return {
            "TENANTS_TABLE": self.tenants_table,
            "ENTITIES_TABLE": self.entities_table,
            "CUSTOMERS_TABLE": self.customers_table,
            "RAW_BUCKET": self.raw_bucket,
            "SNAPSHOT_BUCKET": self.snapshot_bucket,
            "INGEST_QUEUE_URL": self.ingest_queue_url,
            "SECRETS_PREFIX": SECRETS_PREFIX,
            "VENDOR_QUEUES": json.dumps(
                {
                    "custobar": self.custobar_queue_url,
                    "voyado": self.voyado_queue_url,
                    "orderingstack": self.orderingstack_queue_url,
                }
            ),
            "VENDOR_DEAD_LETTER_QUEUES": json.dumps(
                {
                    "custobar": self.custobar_dlq_url,
                    "voyado": self.voyado_dlq_url,
                    "orderingstack": self.orderingstack_dlq_url,
                }
            ),
            "RATE_LIMIT_TABLE": self.rate_limit_table,
            "SYNC_STATE_TABLE": self.sync_state_table,
            "QUARANTINE_TABLE": self.quarantine_table,
            "VENDOR_LEDGER_TABLE": self.vendor_ledger_table,
        }


def create_stack(names: Stack = Stack()) -> Stack:
    """Tables (keys, GSIs, streams), buckets and queues (with their redrive policies) from template.yaml."""
    ddb = boto3.client("dynamodb", region_name=REGION)
    for logical_id in template.tables():
        name = {
            "TenantsTable": names.tenants_table,
            "EntitiesTable": names.entities_table,
            "CustomersTable": names.customers_table,
            "RateLimitTable": names.rate_limit_table,
            "SyncStateTable": names.sync_state_table,
            "QuarantineTable": names.quarantine_table,
            "VendorLedgerTable": names.vendor_ledger_table,
        }[logical_id]
        ddb.create_table(**template.table_definition(logical_id, name))
    s3 = boto3.client("s3", region_name=REGION)
    buckets = template.resources("AWS::S3::Bucket")
    for logical_id, bucket in (("RawBucket", names.raw_bucket), ("SyncSnapshotBucket", names.snapshot_bucket)):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        if versioning := buckets[logical_id]["Properties"].get("VersioningConfiguration"):
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=versioning)  # as deployed
    sqs = boto3.client("sqs", region_name=REGION)
    urls: dict[str, str] = {}
    queues = template.resources("AWS::SQS::Queue")
    for logical_id in sorted(queues, key=lambda q: "RedrivePolicy" in queues[q]["Properties"]):  # DLQs first
        props = queues[logical_id]["Properties"]
        attributes = {"VisibilityTimeout": str(props.get("VisibilityTimeout", 30))}
        if props.get("FifoQueue"):
            attributes["FifoQueue"] = "true"
        if "RedrivePolicy" in props:
            dlq = props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
            arn = sqs.get_queue_attributes(QueueUrl=urls[dlq], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": arn, "maxReceiveCount": props["RedrivePolicy"]["maxReceiveCount"]}
            )
        name = logical_id + (".fifo" if props.get("FifoQueue") else "")
        urls[logical_id] = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return replace(
        names,
        ingest_queue_url=urls["IngestQueue"],
        ingest_dlq_url=urls["IngestDeadLetterQueue"],
        custobar_queue_url=urls["CustobarQueue"],
        custobar_dlq_url=urls["CustobarDeadLetterQueue"],
        voyado_queue_url=urls["VoyadoQueue"],
        voyado_dlq_url=urls["VoyadoDeadLetterQueue"],
        orderingstack_queue_url=urls["OrderingStackQueue"],
        orderingstack_dlq_url=urls["OrderingStackDeadLetterQueue"],
    )


def add_tenant(
    stack: Stack,
    tenant_id: str = MERCHANT,
    places: dict[str, Place] | None = None,
    secret: dict[str, Any] | None = None,
) -> Tenant:
    tenant = Tenant(
        tenant_id=tenant_id,
        name=f"Café {tenant_id[-4:]}",
        time_zone="Europe/Prague",
        places=places or {PLACE: Place(name="Náměstí"), OTHER_PLACE: Place(name="Nádraží")},
    )
    tenants.TenantStore(stack.tenants_table, client=boto3.client("dynamodb", region_name=REGION)).put(tenant)
    write_secrets(tenant_id, secret or {"storyous_webhook_secret": WEBHOOK_SECRET})
    return tenant


def write_secrets(tenant_id: str, values: dict[str, Any]) -> None:
    """A tenant's values, each in the secret of its use, as the admin command writes them."""
    store = SecretStore(boto3.client("secretsmanager", region_name=REGION), SECRETS_PREFIX)
    by_use, _ = split(values)
    for use, held in by_use.items():
        store.write(use, tenant_id, {**store.read(use, tenant_id), **held})


def read_secret(use: Use, tenant_id: str = MERCHANT) -> dict[str, Any]:
    return SecretStore(boto3.client("secretsmanager", region_name=REGION), SECRETS_PREFIX).read(use, tenant_id)


def issue_api_key(tenant_id: str = MERCHANT) -> str:
    """A new DailyStory key for the tenant; only its hash goes into the tenant's dailystory secret."""
    key = new_api_key(tenant_id)
    hashes = read_secret("dailystory", tenant_id).get(DAILYSTORY_KEY_HASHES, [])
    write_secrets(tenant_id, {DAILYSTORY_KEY_HASHES: [*hashes, hash_api_key(key)]})
    return key
