"""Where the admin command works: a deployed stack (its outputs), the local stack (its state file), or
the environment (names as the functions see them)."""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import boto3

LOCAL_STATE = Path(os.environ.get("LOCAL_STACK_STATE", ".local/stack.json"))  # where make run writes its names


class AdminError(Exception):
    """Bad input or state; the message says what to do, and nothing was changed."""


@dataclass(frozen=True)
class Target:
    tenants_table: str
    secrets_prefix: str
    raw_bucket: str
    ingest_queue_url: str
    endpoint_url: str | None = None
    sync_state_table: str | None = None  # absent from stacks deployed before the scheduled pull
    quarantine_table: str | None = None  # absent from stacks deployed before the quarantine
    customers_table: str | None = None
    entities_table: str | None = None  # forget and trace
    vendor_ledger_table: str | None = None  # trace: each customer's last send
    vendor_queues: dict[str, str] = field(default_factory=dict)  # vendor -> queue url, for resend

    @classmethod
    def from_stack(cls, stack_name: str) -> "Target":
        outputs = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]["Outputs"]
        values = {o["OutputKey"]: o["OutputValue"] for o in outputs}
        return cls(
            values["TenantsTableName"],
            values["SecretsPrefix"],
            values["RawBucketName"],
            values["IngestQueueUrl"],
            sync_state_table=values.get("SyncStateTableName"),
            quarantine_table=values.get("QuarantineTableName"),
            customers_table=values.get("CustomersTableName"),
            entities_table=values.get("EntitiesTableName"),
            vendor_ledger_table=values.get("VendorLedgerTableName"),
            vendor_queues=json.loads(values.get("VendorQueueUrls", "{}")),
        )

    @classmethod
    def from_local(cls, state: Path = LOCAL_STATE) -> "Target":
        if not state.is_file():
            raise AdminError(f"{state} not found: start the local stack first (make run)")
        values = json.loads(state.read_text())
        return cls(
            **{k: values[k] for k in ("tenants_table", "secrets_prefix", "raw_bucket", "ingest_queue_url")},
            endpoint_url=values["endpoint_url"],
            sync_state_table=values.get("sync_state_table"),
            quarantine_table=values.get("quarantine_table"),
            customers_table=values.get("customers_table"),
            entities_table=values.get("entities_table"),
            vendor_ledger_table=values.get("vendor_ledger_table"),
            vendor_queues=values.get("vendor_queues", {}),
        )

    @classmethod
    def from_environment(cls) -> "Target":
        try:
            return cls(
                os.environ["TENANTS_TABLE"],
                os.environ["SECRETS_PREFIX"],
                os.environ["RAW_BUCKET"],
                os.environ["INGEST_QUEUE_URL"],
                os.environ.get("AWS_ENDPOINT_URL"),
                os.environ.get("SYNC_STATE_TABLE"),
                os.environ.get("QUARANTINE_TABLE"),
                os.environ.get("CUSTOMERS_TABLE"),
                os.environ.get("ENTITIES_TABLE"),
                os.environ.get("VENDOR_LEDGER_TABLE"),
                json.loads(os.environ.get("VENDOR_QUEUES", "{}")),
            )
        except KeyError as exc:
            raise AdminError(f"{exc.args[0]} is not set: use --stack NAME or --local") from exc
