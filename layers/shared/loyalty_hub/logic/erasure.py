"""Erasure (D47): a person's data removed from every copy the hub holds, beside the customer item that
ingest writes itself (logic.ingest.apply_erasure). Each step finds what is left and removes it, so a
run that died half way is finished by the next.

Bills stay, linked by the customer id only: they are the merchant's sales records, Storyous holds the
same id on them, and replay must still rebuild every other customer exactly.
"""

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from loyalty_hub.dal import archive
from loyalty_hub.dal.appearances import Appearances
from loyalty_hub.dal.entities import EntityStore
from loyalty_hub.dal.quarantine import QuarantineStore
from loyalty_hub.models.erasure import ErasureRequest
from loyalty_hub.models.tenant import Tenant
from loyalty_hub.rules.timestamps import format_timestamp
from loyalty_hub.storyous import loyalty, mapping

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LOYALTY = "Loyalty"
# What the hub cannot do for the operator, per vendor, said in every report.
VENDOR_NOTES = {
    "custobar": "sent through the vendor queue: is_forgotten (an erasure request) or is_deleted (deleted in Storyous)",
    "voyado": "nothing sent: the hub only reads Voyado; erase the contact in Voyado itself",
    "orderingstack": "nothing sent: OrderingStack documents no delete; erase the account in OrderingStack itself",
}
NOTES = (
    "bills kept with the customer id only (the merchant's sales records)",
    "DailyStory: 404 by id; the customer left the list (live sync snapshots hold ids only and expire in 30 min)",
    "table backups (point-in-time recovery) keep earlier states up to 35 days",
    "erase the member in Storyous too, or a later Loyalty delivery brings the person back",
)


@dataclass
class ErasureReport:
    customer: str = "absent"  # "erased", "already erased", or "absent" (no customer item)
    loyalty_record: str = "absent"  # "scrubbed", "already scrubbed", or "absent"
    quarantine_dropped: int = 0
    archive_rewritten: int = 0
    archive_unchanged: int = 0  # deliveries that name the customer in bills only, or were rewritten before
    archive_gone: int = 0  # expired or deleted already
    versions_deleted: int = 0
    vendors: dict[str, str] = field(default_factory=dict)


@dataclass
class CopyStores:
    """The stores erasure reads and rewrites; one per delivery or request, so the quarantine is listed once."""

    entities: EntityStore
    quarantine: QuarantineStore
    appearances: Appearances
    s3: "S3Client"
    raw_bucket: str
    _quarantined: dict[str, list[str]] | None = field(default=None, init=False, repr=False)  # customer -> qids

    def quarantined_loyalty(self, tenant_id: str, customer_id: str) -> list[str]:
        """The qids of the customer's quarantined Loyalty records (poison ids are cut for display: never a match)."""
        if self._quarantined is None:
            self._quarantined = {}
            for r in self.quarantine.list(tenant_id):
                if r.domain == LOYALTY and r.entity_id:
                    self._quarantined.setdefault(r.entity_id, []).append(r.qid)
        return self._quarantined.pop(customer_id, [])


def scrub_copies(stores: CopyStores, tenant: Tenant, customer_id: str, at: datetime, report: ErasureReport) -> None:
    """The Loyalty record, its quarantined versions and every archived delivery that carried it."""
    stamp = format_timestamp(at)
    tenant_id = tenant.tenant_id
    body = stores.entities.bodies(tenant_id, LOYALTY, [customer_id]).get(customer_id)
    if body is not None:
        scrubbed = loyalty.scrub_loyalty(body, stamp)
        if scrubbed == body:
            report.loyalty_record = "already scrubbed"
        else:
            stores.entities.replace_body(tenant_id, LOYALTY, customer_id, scrubbed)
            report.loyalty_record = "scrubbed"
    held = stores.quarantined_loyalty(tenant_id, customer_id)
    stores.quarantine.delete(tenant_id, held)
    report.quarantine_dropped += len(held)
    for seen in stores.appearances.of(tenant_id, customer_id):
        if seen.domain != LOYALTY:
            report.archive_unchanged += 1  # a bill names the customer by id only, which bills keep
            continue
        sha256 = archive.parse_key(seen.archive_key).sha256
        for key in [seen.archive_key, *stores.appearances.copies(tenant_id, sha256)]:
            done = archive.rewrite_raw(stores.s3, stores.raw_bucket, key, lambda raw: without(raw, customer_id, stamp))
            report.versions_deleted += done.versions_deleted
            if done.outcome == "rewritten":
                report.archive_rewritten += 1
            elif done.outcome == "gone":
                report.archive_gone += 1
            else:
                report.archive_unchanged += 1
    report.vendors = {v: VENDOR_NOTES[v] for v in tenant.vendors.enabled() if v in VENDOR_NOTES}


def without(raw: bytes, customer_id: str, at: str) -> bytes:
    """An archived Loyalty delivery with the customer's record scrubbed; the same bytes if it is not in it."""
    document = orjson.loads(raw)
    changed = False
    for index, entity in enumerate(document.get("data") or []):
        if isinstance(entity, dict) and mapping.entity_id(LOYALTY, entity)[0] == customer_id:
            scrubbed = loyalty.scrub_loyalty(entity, at)
            changed |= scrubbed != entity
            document["data"][index] = scrubbed
    return orjson.dumps(document) if changed else raw


def log_entry(request: ErasureRequest, report: ErasureReport, done_at: datetime) -> dict[str, Any]:
    """The erasure log's record: who, when, which customer id, what was done where. No personal data."""
    return {
        "request_id": request.request_id,
        "tenant_id": request.tenant_id,
        "customer_id": request.customer_id,
        "reason": request.reason,
        "requested_by": request.requested_by,
        "requested_at": format_timestamp(request.requested_at),
        "status": "done",
        "done_at": format_timestamp(done_at),
        "report": asdict(report),
        "notes": list(NOTES),
    }
