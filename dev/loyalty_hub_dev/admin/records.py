"""The admin command's work on records: replay the archive, move the Storyous pull, quarantine, resend,
migrate secrets. A mixin of Admin, which provides `target`, `tenants`, `secrets` and `_tenant`."""

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING

from loyalty_hub import aws
from loyalty_hub.dal import archive
from loyalty_hub.dal.customers import CustomerStore
from loyalty_hub.dal.ledger import LedgerStore
from loyalty_hub.dal.quarantine import QuarantineStore
from loyalty_hub.dal.syncstate import CursorConflict, PullCursor, SyncStateStore
from loyalty_hub.dal.tenants import TenantList, TenantStore
from loyalty_hub.errors import BadRequest, InvalidEnvelope
from loyalty_hub.logic.quarantine import QuarantineOps
from loyalty_hub.models.datasync import DeliveryPointer, parse_envelope
from loyalty_hub.models.tenant import Tenant
from loyalty_hub_dev.admin.secrets import Migration, SecretStore
from loyalty_hub_dev.admin.target import AdminError, Target

if TYPE_CHECKING:
    from loyalty_hub.logic.resend import ResendReport


class RecordOps:
    target: Target
    tenants: TenantStore
    secrets: SecretStore

    def _tenant(self, tenant_id: str) -> Tenant:
        raise NotImplementedError

    def list(self) -> TenantList:
        raise NotImplementedError

    # ------------------------------------------------------------ replay
    def replay(
        self, tenant_id: str, since: date, domain: str | None = None, progress: Callable[[int], None] | None = None
    ) -> int:
        """Enqueues every archived delivery of the tenant received on or after `since` for ingest again;
        `progress(count)` after each hundred."""
        self._tenant(tenant_id)
        s3, sqs = aws.client("s3"), aws.client("sqs")
        count = 0
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.target.raw_bucket, Prefix=f"raw/{tenant_id}/"
        ):
            for obj in page.get("Contents", []):
                parts = archive.parse_key(obj["Key"])
                if parts.received_on < since or (domain and parts.domain != domain):
                    continue
                try:
                    envelope = parse_envelope(archive.get_raw(s3, self.target.raw_bucket, obj["Key"]))
                    domain_read, entities = envelope.dataDomain, len(envelope.data)
                except (BadRequest, InvalidEnvelope):  # queued all the same: ingest quarantines it, with why
                    domain_read, entities = parts.domain, 0
                pointer = DeliveryPointer(
                    tenant_id=tenant_id,
                    place_id=parts.place_id,
                    domain=domain_read,
                    bucket=self.target.raw_bucket,
                    key=obj["Key"],
                    sha256=parts.sha256,
                    received_at=obj["LastModified"].astimezone(UTC),
                    entities=entities,
                    replay=True,
                )
                archive.enqueue(sqs, self.target.ingest_queue_url, pointer)
                count += 1
                if progress is not None and count % 100 == 0:
                    progress(count)
        return count

    # ------------------------------------------------------------ scheduled pull
    def pull_from(
        self, tenant_id: str, since: date, place_id: str | None = None, progress: Callable[[str], None] | None = None
    ) -> tuple[str, ...]:
        """Points the Storyous pull of the tenant's active places (or one) at `since` (midnight, the tenant's
        time): the next runs read every bill changed since then. Returns the places moved."""
        tenant = self._tenant(tenant_id)
        if self.target.sync_state_table is None:
            raise AdminError("this stack has no SyncStateTable output: deploy the current template first")
        if place_id is not None and not tenant.has_place(place_id):
            raise AdminError(f"tenant {tenant_id} has no active place {place_id}")
        places = [place_id] if place_id else sorted(p for p, place in tenant.places.items() if place.active)
        store = SyncStateStore(aws.client("dynamodb"), self.target.sync_state_table)
        start = datetime.combine(since, time.min, tenant.zone)
        moved: tuple[str, ...] = ()
        for place in places:
            current = store.pull_cursor(tenant_id, place)
            cursor = PullCursor(
                tenant_id,
                place,
                since=start,
                completed_at=current.completed_at if current else None,
                revision=current.revision if current else 0,
            )
            try:
                store.save_pull_cursor(cursor)
            except CursorConflict as exc:
                raise AdminError(
                    f"a pull run is moving the cursor of place {place} now; run this again in a minute"
                    + (f" (already moved: {', '.join(moved)})" if moved else "")
                ) from exc
            moved += (place,)
            if progress is not None:
                progress(place)
        return moved

    # ------------------------------------------------------------ quarantine and resend
    def quarantine(self) -> QuarantineOps:
        if self.target.quarantine_table is None:
            raise AdminError("this stack has no QuarantineTableName output: deploy the current template first")
        table = QuarantineStore(aws.client("dynamodb"), self.target.quarantine_table)
        return QuarantineOps(table, aws.client("sqs"), self.target.ingest_queue_url)

    def resend(
        self,
        tenant_id: str,
        *,
        customer_ids: Sequence[str] | None,
        since: str | None,
        vendor: str | None,
        progress: Callable[["ResendReport"], None],
    ) -> "ResendReport":
        """Puts the tenant's customers back on their vendors' queues from the table's current state."""
        tenant = self._tenant(tenant_id)
        if self.target.customers_table is None or self.target.entities_table is None or not self.target.vendor_queues:
            raise AdminError(
                "this stack has no CustomersTableName/EntitiesTableName/VendorQueueUrls outputs: deploy the "
                "current template"
            )
        if not tenant.vendors.enabled():
            raise AdminError(f"no vendor is enabled for {tenant_id}: nothing to resend to")
        if vendor is not None and vendor not in tenant.vendors.enabled():
            raise AdminError(
                f"{vendor} is not enabled for {tenant_id} (enabled: {', '.join(tenant.vendors.enabled())})"
            )
        # Imported here: it brings the functions' Logger and Metrics, which read their environment once,
        # and the local stack imports this module before it sets the functions' environment.
        from loyalty_hub.logic.resend import ResendDeps, resend  # noqa: PLC0415

        dynamodb = aws.client("dynamodb")
        deps = ResendDeps(
            self.tenants,
            CustomerStore(dynamodb, self.target.customers_table),
            LedgerStore(dynamodb, str(self.target.entities_table)),
            aws.client("sqs"),
            self.target.vendor_queues,
        )
        return resend(
            deps,
            tenant_id,
            customer_ids=customer_ids,
            since=since,
            vendors=[vendor] if vendor else None,
            progress=progress,
        )

    def migrate_secrets(self, tenant_ids: Sequence[str] | None, *, delete_legacy: bool) -> Sequence[Migration]:
        """The split layout (D33) from each tenant's single secret of earlier versions: run it before
        deploying the version that reads the split secrets, and again with `delete_legacy` after."""
        ids = list(tenant_ids) if tenant_ids else [t.tenant_id for t in self.list().tenants]
        for tenant_id in ids:
            self._tenant(tenant_id)
        return [self.secrets.migrate(tenant_id, delete_legacy=delete_legacy) for tenant_id in ids]
