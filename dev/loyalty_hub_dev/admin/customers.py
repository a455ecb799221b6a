"""The admin command's work on one customer: `forget` (D47) and `trace`.

`forget` asks ingest to erase: ingest is the single writer of a tenant's customers, so the request
goes on the ingest queue in the tenant's group and cannot race a delivery of the same person. The
command writes who asked to the erasure log, then waits for ingest to record what it did.
"""

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3

from loyalty_hub import aws
from loyalty_hub.dal import archive
from loyalty_hub.dal.appearances import Appearances, ErasureLog
from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.entities import EntityStore
from loyalty_hub.dal.ledger import LedgerStore
from loyalty_hub.dal.quarantine import QuarantineStore
from loyalty_hub.dal.vendor_ledger import LastSends
from loyalty_hub.models import structs
from loyalty_hub.models.erasure import ErasureRequest
from loyalty_hub.models.ids import entity_id_problem
from loyalty_hub.models.tenant import Tenant
from loyalty_hub.rules.timestamps import format_timestamp
from loyalty_hub_dev.admin.target import AdminError, Target
from loyalty_hub_dev.admin.trace import Trace, trace


@dataclass(frozen=True)
class Forgotten:
    request_id: str
    done: bool
    entry: dict[str, Any]  # the erasure log's record: what was done where (or only who asked, if not done)


class CustomerOps:
    def __init__(self, target: Target) -> None:
        missing = [name for name in ("customers_table", "entities_table", "quarantine_table")
                   if getattr(target, name) is None]  # fmt: skip
        if missing:
            raise AdminError(f"this stack lacks the outputs for {', '.join(missing)}: deploy the current template")
        self.target = target
        dynamodb = aws.client("dynamodb")
        entities_table = str(target.entities_table)
        self.customers = CustomerStore(dynamodb, str(target.customers_table))
        self.entities = EntityStore(dynamodb, entities_table)
        self.appearances = Appearances(dynamodb, entities_table)
        self.erasures = ErasureLog(dynamodb, entities_table)
        self.ledger = LedgerStore(dynamodb, entities_table)
        self.quarantine = QuarantineStore(dynamodb, str(target.quarantine_table))
        self.sends = LastSends(dynamodb, target.vendor_ledger_table) if target.vendor_ledger_table else None

    def _known(self, tenant_id: str, customer_id: str) -> None:
        """AdminError unless the hub holds something of the customer (nothing is changed otherwise)."""
        if problem := entity_id_problem(customer_id):
            raise AdminError(f"not a customer id: {problem}")
        if (
            self.customers.get(tenant_id, customer_id) is None
            and not self.entities.bodies(tenant_id, "Loyalty", [customer_id])
            and not self.appearances.of(tenant_id, customer_id)
        ):
            raise AdminError(f"no customer {customer_id} in tenant {tenant_id}: nothing changed")

    def forget(
        self,
        tenant: Tenant,
        customer_id: str,
        *,
        wait_seconds: float,
        progress: Callable[[float], None] = lambda waited: None,
        poll_seconds: float = 2.0,
    ) -> Forgotten:
        """Queues the erasure and waits up to `wait_seconds` for ingest to log it done. Running it again
        after a crash or a timeout repeats every step; each finds what is left and removes it."""
        self._known(tenant.tenant_id, customer_id)
        request = ErasureRequest(
            tenant_id=tenant.tenant_id,
            customer_id=customer_id,
            reason="forget",
            request_id=uuid.uuid4().hex,
            requested_at=datetime.now(UTC),
            requested_by=_operator(),
        )
        asked = {
            **{k: v for k, v in structs.to_plain(request).items() if k != "kind"},
            "requested_at": format_timestamp(request.requested_at),
            "status": "requested",
        }
        self.erasures.write(tenant.tenant_id, request.request_id, asked)
        archive.enqueue_erasure(aws.client("sqs"), self.target.ingest_queue_url, request)
        started = time.monotonic()
        while True:
            entry = self.erasures.get(tenant.tenant_id, request.request_id) or asked
            waited = time.monotonic() - started
            if entry.get("status") == "done" or waited >= wait_seconds:
                return Forgotten(request.request_id, entry.get("status") == "done", entry)
            progress(waited)
            time.sleep(poll_seconds)

    def trace(self, tenant: Tenant, customer_id: str) -> Trace:
        self._known(tenant.tenant_id, customer_id)
        return trace(self, tenant, customer_id)


def _operator() -> str:
    """Who asked, for the erasure log: the AWS identity the command runs as (the local user locally)."""
    try:
        return str(boto3.client("sts").get_caller_identity()["Arn"])[:200]
    except Exception:  # no STS (the local stack) or no permission: the OS user still says who
        return f"local user {os.environ.get('USER', 'unknown')}"[:200]
